import FaultlineCore
import Foundation

/// `faultline log export`: the events in shapes other tools take.
///
/// - `json`: one JSON array of the events, fields as in the log and, as there, in
///   alphabetical order, so the same events always export to the same bytes.
/// - `csv`: RFC 4180, a header row, one row per event. Columns are the log's fields, the
///   common ones first in a fixed order, then any others in alphabetical order, so new
///   fields show up without a change here. `params` becomes `key=value;key=value`.
package enum LogExport {
    package enum Format: String, CaseIterable, Sendable {
        case csv
        case json
    }

    package static func export(_ events: [Event], as format: Format) throws -> Data {
        switch format {
        case .json: try Self.json(events)
        case .csv: try Self.csv(events)
        }
    }

    package static func json(_ events: [Event]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .prettyPrinted, .sortedKeys]
        var data = try encoder.encode(events)
        data.append(0x0A)
        return data
    }

    /// The columns that lead, in this order, when present.
    static let leadingColumns = [
        "v", "type", "time", "mono", "proxy", "conn", "direction", "unit", "client", "upstream", "listen", "bytes",
        "bytes_from_client", "bytes_to_upstream", "bytes_from_upstream", "bytes_to_client",
        "dropped_upstream", "dropped_downstream", "duplicated_upstream", "duplicated_downstream",
        "rule", "kind", "action", "params", "method", "path", "status", "idempotency_key", "command",
        "fingerprint", "payload", "seed", "profile", "profile_hash", "framing", "plan", "reason", "count",
    ]

    package static func csv(_ events: [Event]) throws -> Data {
        let encoder = JSONEncoder()
        var rows: [[String: Any]] = []
        var seen = Set<String>()
        for event in events {
            let object = try JSONSerialization.jsonObject(with: encoder.encode(event)) as? [String: Any] ?? [:]
            seen.formUnion(object.keys)
            rows.append(object)
        }
        let columns = Self.leadingColumns.filter { seen.contains($0) } + seen.subtracting(Self.leadingColumns).sorted()
        var text = columns.map(Self.quote).joined(separator: ",") + "\r\n"
        for row in rows {
            text += columns.map { Self.quote(Self.cell(row[$0])) }.joined(separator: ",") + "\r\n"
        }
        return Data(text.utf8)
    }

    private static func cell(_ value: Any?) -> String {
        switch value {
        case nil, is NSNull: return ""
        case let text as String: return text
        case let number as Int: return String(number)
        case let number as UInt64: return String(number)
        case let number as Double: return String(number)
        case let number as NSNumber: return number.stringValue
        case let object as [String: Any]:
            return object.keys.sorted().map { "\($0)=\(Self.cell(object[$0]))" }.joined(separator: ";")
        case let array as [Any]:
            return array.map { Self.cell($0) }.joined(separator: ";")
        default: return "\(value!)"
        }
    }

    private static func quote(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
