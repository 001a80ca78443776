import FaultlineCore
import FaultlineRecords
import Foundation
import Testing

/// The streaming reader: its byte-level parser against `JSONDecoder`'s reading of the
/// same lines, its strictness, and its block loop.
@Suite struct EventLogStreamTests {
    // MARK: Every field

    /// A log line with every stored property of `Event` set to a distinct value, found
    /// with `Mirror`, so a field added to `Event` and not to the reader's key table fails
    /// here. Keys are the properties in snake_case (the log's spelling).
    static func lineWithEveryField() throws -> Data {
        var object: [String: Any] = [:]
        for (index, child) in Mirror(reflecting: Event(.message)).children.enumerated() {
            let label = try #require(child.label)
            let key = Self.snakeCase(label)
            switch label {
            case "v": object[key] = 1
            case "type": object[key] = "duplicate_reply"
            default:
                switch type(of: child.value) {
                case is String?.Type: object[key] = "\(label) \"é\" \(index)"
                case is UInt64?.Type: object[key] = UInt64(1) << 40 + UInt64(index)
                case is Int?.Type: object[key] = 1000 + index
                case is Event.Direction?.Type: object[key] = "downstream"
                case is [String: String]?.Type: object[key] = ["ms": "200", "to": "a\\b", "": ""]
                default:
                    Issue.record("Event.\(label) is a \(type(of: child.value)); teach this test and the reader that type")
                }
            }
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    static func snakeCase(_ name: String) -> String {
        name.reduce(into: "") { result, character in
            if character.isUppercase {
                result += "_" + character.lowercased()
            } else {
                result.append(character)
            }
        }
    }

    /// The fields of `event` that are nil.
    static func unsetFields(_ event: Event) -> [String] {
        Mirror(reflecting: event).children.compactMap { child in
            let value = Mirror(reflecting: child.value)
            return value.displayStyle == .optional && value.children.isEmpty ? child.label : nil
        }
    }

    @Test func everyFieldRoundTrips() throws {
        let line = try Self.lineWithEveryField()
        let expected = try JSONDecoder().decode(Event.self, from: line)
        // If this fails, the snake_case spelling is not the field's CodingKey: give the
        // test the real one.
        #expect(Self.unsetFields(expected).isEmpty, "JSONDecoder left these unset")

        let parsed = try EventLogReader.parse(line + Data("\n".utf8), file: "run.jsonl")
        #expect(parsed == [expected])
        #expect(Self.unsetFields(try #require(parsed.first)).isEmpty, "the reader left these unset")

        // What the writer's encoder makes of it reads back equal too.
        let encoded = try JSONEncoder().encode(expected)
        #expect(try EventLogReader.parse(encoded, file: "run.jsonl") == [expected])
    }

    @Test func everyEventTypeReads() throws {
        let kinds = [
            "proxy_start", "proxy_stop", "conn_open", "conn_close", "message", "fault", "upstream_error",
            "framing_fallback", "log_dropped", "capture_dropped", "session_limit", "duplicate_reply",
        ]
        let text = kinds.map { #"{"v":1,"type":"\#($0)"}"# }.joined(separator: "\n")
        let events = try EventLogReader.parse(Data(text.utf8), file: "run.jsonl")
        #expect(events.map(\.type.rawValue) == kinds)
    }

    // MARK: Values

    @Test func escapesDecode() throws {
        let line = #"{"v":1,"type":"message","path":"/a\"b\\c\/d\b\f\n\r\t\u00e9\u20AC\ud83d\ude00 é€😀","p\u0061ram\u0073":{"k\n":"\u0000"}}"#
        let event = try #require(try EventLogReader.parse(Data(line.utf8), file: "run.jsonl").first)
        #expect(event.path == "/a\"b\\c/d\u{8}\u{C}\n\r\té€😀 é€😀")
        #expect(event.params == ["k\n": "\u{0}"])
        // And as JSONDecoder reads the same line.
        #expect(event == (try JSONDecoder().decode(Event.self, from: Data(line.utf8))))
    }

    @Test func unknownKeysAreIgnored() throws {
        let line = #"{"future":{"a":[1,-2.5e3,true,false,null,{"b":"\u00e9"}],"c":{}},"v":1,"zz":[],"type":"conn_open","conn":7,"x":"y","n":null}"#
        let event = try #require(try EventLogReader.parse(Data(line.utf8), file: "run.jsonl").first)
        var expected = Event(.connectionOpen)
        expected.conn = 7
        #expect(event == expected)

        // Keys one byte off a known one, at its start, middle and end, and longer ones.
        let nearMisses = [
            "tim", "timex", "Time", "conn_", "bytes_from_clienx", "xytes_from_client", "bytes_frox_client",
            "datagrams_duplicated_downstreaX", "datagrams_duplicated_downstream_", String(repeating: "k", count: 70), "",
        ]
        let fields = nearMisses.map { #""\#($0)":"x""# }.joined(separator: ",")
        let near = try EventLogReader.parse(Data(#"{"v":1,"type":"conn_open",\#(fields),"conn":7}"#.utf8), file: "run.jsonl")
        #expect(near == [expected])
    }

    @Test func nullIsAbsentAndIntegersReadAsJSONDecoderReadsThem() throws {
        let line = #"{"v":1,"type":"message","time":null,"params":null,"conn":-0,"bytes":1e3,"status":2.0E2,"mono":1152921504606846976,"count":-9007199254740992}"#
        let event = try #require(try EventLogReader.parse(Data(line.utf8), file: "run.jsonl").first)
        #expect(event.time == nil && event.params == nil)
        #expect(event.conn == 0 && event.bytes == 1000 && event.status == 200)
        #expect(event.mono == 1 << 60 && event.count == -(1 << 53))
        #expect(event == (try JSONDecoder().decode(Event.self, from: Data(line.utf8))))
    }

    /// Times past 2^60, ordinals past 2^62, counts past 2^53 either way: read, they could only
    /// overflow a sum or a difference in whoever uses them (a hostile log crashed `check
    /// retries` so), so the reader refuses them, naming the field and the range.
    static let outOfRange: [(String, String)] = [
        (#""mono":1152921504606846977"#, "field 'mono' should be an integer from 0 to 1152921504606846976"),
        (#""first_mono":18446744073709551615"#, "field 'first_mono' should be an integer from 0 to 1152921504606846976"),
        (#""attempt":4611686018427387905"#, "field 'attempt' should be an integer from 0 to 4611686018427387904"),
        (#""bytes_from_client":9007199254740993"#, "field 'bytes_from_client' should be an integer from -9007199254740992 to 9007199254740992"),
        (#""count":-9223372036854775808"#, "field 'count' should be an integer from -9007199254740992 to 9007199254740992"),
    ]

    @Test(arguments: outOfRange)
    func numbersBeyondWhatALogCanHoldAreRefused(field: String, message: String) {
        let line = #"{"v":1,"type":"message",\#(field)}"#
        #expect(throws: EventLogError.self) { try EventLogReader.parse(Data(line.utf8), file: "run.jsonl") }
        do {
            _ = try EventLogReader.parse(Data(line.utf8), file: "run.jsonl")
        } catch {
            #expect("\(error)" == "run.jsonl:1: \(message)")
        }
    }

    // MARK: Errors

    /// Each bad line and the message it must give after `run.jsonl:1: `.
    static let badLines: [(String, String)] = [
        (#"[1,2]"#, "not a JSON object: '[1,2]'"),
        (#""text""#, "not a JSON object: '\"text\"'"),
        (#"{"v":1,"type":"message"} x"#, #"not a JSON object: '{"v":1,"type":"message"} x'"#),
        (#"{"v":1,"type":"message",}"#, #"not a JSON object: '{"v":1,"type":"message",}'"#),
        (#"{"v":1,"type":"message" "conn":1}"#, #"not a JSON object: '{"v":1,"type":"message" "conn":1}'"#),
        (#"{"v":1,"type":"message","path":"a\x"}"#, #"not a JSON object: '{"v":1,"type":"message","path":"a\x"}'"#),
        (#"{"v":1,"type":"message","path":"\ud800"}"#, #"not a JSON object: '{"v":1,"type":"message","path":"\ud800"}'"#),
        (#"{"v":1,"type":"message","path":"\udc00\ud800"}"#, #"not a JSON object: '{"v":1,"type":"message","path":"\udc00\ud800"}'"#),
        (#"{"v":1,"type":"message","path":"\u12G4"}"#, #"not a JSON object: '{"v":1,"type":"message","path":"\u12G4"}'"#),
        ("{\"v\":1,\"type\":\"message\",\"path\":\"a\tb\"}", "not a JSON object: '{\"v\":1,\"type\":\"message\",\"path\":\"a\tb\"}'"),
        (#"{"v":1,"type":"message","x":01}"#, #"not a JSON object: '{"v":1,"type":"message","x":01}'"#),
        (#"{"v":1,"type":"message","x":1.}"#, #"not a JSON object: '{"v":1,"type":"message","x":1.}'"#),
        (#"{"v":1,"type":"message","x":-}"#, #"not a JSON object: '{"v":1,"type":"message","x":-}'"#),
        (#"{"v":1,"type":"message","x":tru}"#, #"not a JSON object: '{"v":1,"type":"message","x":tru}'"#),
        (#"{"v":1,"type":"message","x":[1,]}"#, #"not a JSON object: '{"v":1,"type":"message","x":[1,]}'"#),
        (#"{'v':1}"#, #"not a JSON object: '{'v':1}'"#),
        (#"{"v":null,"type":"message"}"#, "no format version \"v\"; is this a faultline event log?"),
        (#"{"type":"teleport","v":2}"#, "format version 2 is not supported (this build reads versions 1 to 1)"),
        (#"{"v":0,"type":"message"}"#, "format version 0 is not supported (this build reads versions 1 to 1)"),
        (#"{"v":"1","type":"message"}"#, "field 'v' should be an integer"),
        (#"{"v":1,"type":null}"#, "no event \"type\""),
        (#"{"v":1,"type":7}"#, "field 'type' should be a string"),
        (#"{"v":1,"type":"teleport","conn":"x"}"#, "unknown event type 'teleport'"),
        (#"{"v":1,"type":"message","conn":-1}"#, "field 'conn' should be an integer from 0 to 18446744073709551615"),
        (#"{"v":1,"type":"message","mono":18446744073709551616}"#, "field 'mono' should be an integer from 0 to 18446744073709551615"),
        (#"{"v":1,"type":"message","bytes":9223372036854775808}"#, "field 'bytes' should be an integer from -9223372036854775808 to 9223372036854775807"),
        (#"{"v":1,"type":"message","bytes":1.5}"#, "field 'bytes' should be an integer"),
        (#"{"v":1,"type":"message","bytes":"1"}"#, "field 'bytes' should be an integer"),
        (#"{"v":1,"type":"message","path":7}"#, "field 'path' should be a string"),
        (#"{"v":1,"type":"message","path":{"a":"b"}}"#, "field 'path' should be a string"),
        (#"{"v":1,"type":"message","unit":1,"path":true,"conn":"x"}"#, "field 'path' should be a string"),
        (#"{"v":1,"type":"fault","params":{"ms":200}}"#, "field 'params.ms' should be a string"),
        (#"{"v":1,"type":"fault","params":[]}"#, "field 'params' should be an object of strings"),
        (#"{"v":1,"type":"message","direction":"sideways"}"#, "field 'direction' has a value that is not allowed"),
    ]

    @Test(arguments: badLines)
    func badLinesAreNamed(line: String, message: String) throws {
        // The bad line is line 2 of three, and it reads the same with tiny blocks.
        let text = "{\"v\":1,\"type\":\"conn_open\"}\n\(line)\n{\"v\":1,\"type\":\"conn_open\"}\n"
        for blockSize in [EventLogReader.defaultBlockSize, 7] {
            let error = #expect(throws: EventLogError.self) {
                _ = try EventLogReader.parse(Data(text.utf8), file: "run.jsonl", blockSize: blockSize)
            }
            #expect(error?.description == "run.jsonl:2: \(message)")
            #expect(error?.exitStatus == 2)
        }
    }

    @Test func invalidUTF8IsNotJSON() {
        for bytes: [UInt8] in [[0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82]] {
            for key in ["path", "unknown"] {
                let line = Data(#"{"v":1,"type":"message","\#(key)":""#.utf8) + Data(bytes) + Data(#""}"#.utf8) + Data("\n".utf8)
                let error = #expect(throws: EventLogError.self) {
                    _ = try EventLogReader.parse(line, file: "run.jsonl")
                }
                #expect(error?.description.hasPrefix("run.jsonl:1: not a JSON object: '") == true)
            }
        }
    }

    @Test func deepNestingInAnUnknownKeyIsRefusedNotRecursedInto() {
        let line = #"{"v":1,"type":"message","x":"# + String(repeating: "[", count: 100_000)
        let error = #expect(throws: EventLogError.self) {
            _ = try EventLogReader.parse(Data((line + "\n").utf8), file: "run.jsonl")
        }
        #expect(error?.description.hasPrefix("run.jsonl:1: not a JSON object") == true)
    }

    /// Every proper prefix of a line, as the last line of a log still being written,
    /// reads as cut off.
    @Test func everyPrefixOfTheLastLineIsCutOff() throws {
        let line = try Self.lineWithEveryField()
        let head = Data("{\"v\":1,\"type\":\"conn_open\"}\n".utf8)
        for length in 1..<line.count {
            let error = #expect(throws: EventLogError.self) {
                _ = try EventLogReader.parse(head + line.prefix(length), file: "run.jsonl", blockSize: 64)
            }
            #expect(error?.description == "run.jsonl:2: the last line is cut off (was the log still being written?)")
        }
        #expect(try EventLogReader.parse(head + line, file: "run.jsonl").count == 2)
    }

    // MARK: Lines and blocks

    static let mixedLog: String = {
        var lines: [String] = []
        for index in 0..<40 {
            let padding = String(repeating: "x", count: index * 13 % 97)
            lines.append(#"{"v":1,"type":"message","conn":\#(index),"path":"/\#(padding)","params":{"i":"\#(index)"}}"#)
            if index % 7 == 0 { lines.append("") }
            if index % 11 == 0 { lines.append(" \t\r") }
        }
        // CRLF endings on some lines.
        return lines.enumerated().map { $0.offset % 3 == 0 ? $0.element + "\r" : $0.element }.joined(separator: "\n") + "\n"
    }()

    @Test func linesAcrossBlockBoundariesReadTheSame() throws {
        let data = Data(Self.mixedLog.utf8)
        var expected: [(Int, UInt64?)] = []
        try EventLogReader.forEach(data: data, file: "run.jsonl") { event, line in expected.append((line, event.conn)) }
        #expect(expected.count == 40)
        #expect(expected.map(\.1) == (0..<40).map { UInt64($0) })
        // Line numbers count the blank lines too.
        // (Split by bytes: "\r\n" is one Character.)
        let lines = Self.mixedLog.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        for (line, conn) in expected {
            #expect(lines[line - 1].contains("\"conn\":\(conn ?? 999),"))
        }
        for blockSize in [1, 2, 3, 5, 16, 63, 64, 65, 127, 500, 4096] {
            var seen: [(Int, UInt64?)] = []
            try EventLogReader.forEach(data: data, file: "run.jsonl", blockSize: blockSize) { event, line in
                seen.append((line, event.conn))
            }
            #expect(seen.map(\.0) == expected.map(\.0), "block size \(blockSize)")
            #expect(seen.map(\.1) == expected.map(\.1), "block size \(blockSize)")
        }
    }

    @Test func aFileReadsInBlocksAsItsTextDoes() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("run.jsonl")
        try Data(Self.mixedLog.utf8).write(to: URL(fileURLWithPath: path))
        let whole = try EventLogReader.parse(Data(Self.mixedLog.utf8), file: path)
        for blockSize in [1, 33, EventLogReader.defaultBlockSize] {
            var events: [Event] = []
            try EventLogReader.forEach(path: path, blockSize: blockSize) { event, _ in events.append(event) }
            #expect(events == whole)
        }
        #expect(try EventLogReader.read(path: path) == whole)
    }

    @Test func aLineLongerThanABlockReads() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("run.jsonl")
        let payload = String(repeating: "QUJD", count: 800_000)  // 3.2 MB, past a 1 MiB block
        let text = "{\"v\":1,\"type\":\"conn_open\"}\n{\"v\":1,\"type\":\"message\",\"payload\":\"\(payload)\"}\n{\"v\":1,\"type\":\"conn_close\"}"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        var seen: [(Event.Kind, Int, Int)] = []
        try EventLogReader.forEach(path: path) { event, line in seen.append((event.type, line, event.payload?.count ?? 0)) }
        #expect(seen.map(\.0) == [.connectionOpen, .message, .connectionClose])
        #expect(seen.map(\.1) == [1, 2, 3])
        #expect(seen[1].2 == payload.count)
        // And with a block far smaller than the line.
        let small = try EventLogReader.parse(Data(text.utf8), file: path, blockSize: 100)
        #expect(small.map(\.payload?.count) == [nil, payload.count, nil])
    }

    @Test func anErrorFromTheBodyStopsTheRead() throws {
        struct Stop: Error {}
        var calls = 0
        #expect(throws: Stop.self) {
            try EventLogReader.forEach(data: Data(Self.mixedLog.utf8), file: "run.jsonl", blockSize: 10) { _, _ in
                calls += 1
                if calls == 3 { throw Stop() }
            }
        }
        #expect(calls == 3)
    }

    @Test func aDirectoryCannotBeRead() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = #expect(throws: EventLogError.self) {
            try EventLogReader.forEach(path: directory.url.path) { _, _ in }
        }
        #expect(error?.description == "\(directory.url.path): cannot read the file")
    }
}
