import Foundation

/// The report for tools: the model encoded as is, keys sorted, pretty printed.
///
/// The model's `CodingKeys` are the schema (docs/checker.md); decoding the output with
/// `JSONReportWriter.decoder()` gives an equal `CheckReport`. Slashes are not escaped
/// (`POST /charges` stays readable). A non-finite number (a growth factor of `inf`) has no
/// JSON spelling: it is written as the string `"inf"`, `"-inf"` or `"nan"`, which the
/// matching decoder reads back.
package enum JSONReportWriter {
    package static func write(_ report: CheckReport) -> String {
        do {
            let data = try Self.encoder().encode(report)
            return String(decoding: data, as: UTF8.self) + "\n"
        } catch {
            // Unreachable with the non-finite strategy above; still a valid JSON document.
            let message = String(describing: error)
                .replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: " ")
            return "{\n  \"error\" : {\n    \"message\" : \"cannot encode the report: \(message)\"\n  }\n}\n"
        }
    }

    /// The encoder `write` uses.
    package static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    /// A decoder that reads what `write` wrote back into an equal `CheckReport`.
    package static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }
}
