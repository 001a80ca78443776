import FaultlineCore
import Foundation
import Testing

/// `man/faultline-events.5` is the log's contract: every key `Event` writes and every
/// event type must be documented there, so a field added to Event.swift without its
/// page fails here.
struct EventManPageTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The JSON keys of `Event`, read from its `CodingKeys` in the source.
    static func codingKeys() throws -> [String] {
        let source = try String(contentsOf: Self.root.appendingPathComponent("Sources/FaultlineCore/Event.swift"), encoding: .utf8)
        let start = try #require(source.range(of: "enum CodingKeys: String, CodingKey {"))
        let body = source[start.upperBound...].prefix { $0 != "}" }
        var keys: [String] = []
        for line in body.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("case ") else { continue }
            let list = text.dropFirst(5)
            if let equals = list.range(of: " = \"") {
                keys.append(String(list[equals.upperBound...].dropLast()))
            } else {
                keys += list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
        }
        return keys
    }

    static func manPage() throws -> String {
        try String(contentsOf: Self.root.appendingPathComponent("man/faultline-events.5"), encoding: .utf8)
    }

    /// Whether the page names `key` as a key (`.B key`, `.BR key ,`, or in a `.BR a ", " b` list).
    static func documents(_ page: String, _ key: String) -> Bool {
        page.split(separator: "\n").contains { line in
            guard line.hasPrefix(".B ") || line.hasPrefix(".BR ") else { return false }
            return line.split(whereSeparator: { $0 == " " || $0 == "\"" || $0 == "," }).dropFirst().contains { $0 == key }
        }
    }

    @Test func everyKeyOfEventIsDocumented() throws {
        let keys = try Self.codingKeys()
        let properties = Mirror(reflecting: Event(.message)).children.compactMap(\.label)
        #expect(keys.count == properties.count, "every stored property of Event needs a CodingKey (\(properties.count) properties, \(keys.count) keys)")
        let page = try Self.manPage()
        let missing = keys.filter { !Self.documents(page, $0) }
        #expect(missing.isEmpty, "keys missing from man/faultline-events.5: \(missing)")
    }

    @Test func everyEventTypeHasItsSection() throws {
        let page = try Self.manPage()
        let types: [Event.Kind] = [
            .proxyStart, .proxyStop, .connectionOpen, .connectionClose, .message, .fault, .upstreamError,
            .framingFallback, .logDropped, .captureDropped, .sessionLimit, .duplicateReply,
        ]
        for type in types {
            #expect(page.contains(".SS \(type.rawValue)\n"), "no section for \(type.rawValue)")
        }
    }
}
