import FaultlineCore
import Foundation
import Testing

/// `man/faultline-events.5` is the log's contract: every key `Event` writes and every
/// event type must be documented there, so a field added to Event.swift without its
/// page fails here.
struct EventManPageTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The JSON keys of `Event`.
    static func codingKeys() -> [String] {
        Event.CodingKeys.allCases.map(\.stringValue)
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
        let keys = Self.codingKeys()
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
