import FaultlineRecords
import FaultlineServe
import FaultlineTestSupport
import Foundation
import Testing

/// Each proxy's log and capture files are its own: names that once shared a file
/// (`x/y` and `x_y` both wrote `x_y.jsonl`) no longer do, no name writes outside the
/// directory, and no file the server gave out is given again.
@Suite(.timeLimit(.minutes(2)))
struct RecordFileNameTests {
    static let names: [(String, String)] = [
        ("x/y", "x%2Fy"), ("x_y", "x_y"), ("a b", "a%20b"), ("a_b", "a_b"), ("api-1.v2", "api-1.v2"),
        (".", "%2E"), ("..", "%2E."), (".hidden", "%2Ehidden"), ("../etc", "%2E.%2Fetc"),
        ("50%", "50%25"), ("x%2Fy", "x%252Fy"), ("é", "%C3%A9"), ("a~b", "a%7Eb"),
    ]

    @Test(arguments: Self.names)
    func aNameIsWrittenSoThatNoOtherSharesItsFile(name: String, file: String) {
        #expect(ProxyStore.fileName(name) == file)
    }

    @Test func aLongNameKeepsItsStartAndEndsWithAHashOfTheWhole() {
        let first = ProxyStore.fileName(String(repeating: "é", count: 100) + "a")
        let second = ProxyStore.fileName(String(repeating: "é", count: 100) + "b")
        #expect(first.utf8.count == 180 + 17 && second.utf8.count == 180 + 17)
        #expect(first.hasPrefix(String(repeating: "%C3%A9", count: 30)))
        #expect(first != second)
        #expect(ProxyStore.fileName(String(repeating: "a", count: 200)) == String(repeating: "a", count: 200))
    }

    /// The trial's case: `x/y` and `x_y` live together, traffic through both; each log
    /// and capture holds its own proxy's traffic only, whole lines, read through the
    /// events route as from the file. A proxy named `a.2` and a proxy `a` started a
    /// second time would both want `a.2.jsonl`: the second to ask gets the next number.
    @Test func proxiesWhoseNamesOnceSharedAFileEachWriteTheirOwn() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("serve-names-\(UUID().uuidString)").path
        let (logs, captures) = (root + "/logs", root + "/pcap")
        for directory in [logs, captures] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        defer { try? FileManager.default.removeItem(atPath: root) }
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: logs, pcapDirectory: captures))

        let names = ["x/y", "x_y"]
        var files: [String: (log: String, pcap: String)] = [:]
        for name in names {
            let proxy = try await serve.create(#"{"name":"\#(name)","upstream":"127.0.0.1:\#(upstream.port)"}"#)
            let log = try #require(proxy["log"]?.stringValue)
            let pcap = try #require(proxy["pcap"]?.stringValue)
            #expect(log == "\(logs)/\(ProxyStore.fileName(name)).jsonl")
            #expect(pcap == "\(captures)/\(ProxyStore.fileName(name)).pcap")
            files[name] = (log, pcap)
            let port = Traffic.port(of: try #require(proxy["listen"]?.stringValue))
            #expect(try await Traffic.roundTrip(port: port, "from \(name)").ending == .eof("from \(name)"))
        }
        #expect(Set(files.values.map(\.log)).count == 2 && Set(files.values.map(\.pcap)).count == 2)

        // Through the API: each proxy's events are its own.
        for name in names {
            let path = "/v1/proxies/\(name.replacingOccurrences(of: "/", with: "%2F"))/events?follow=true"
            let lines = try await serve.follow(path) { $0.contains { $0.contains(#""type":"conn_close""#) } }
            #expect(lines.allSatisfy { Self.proxy(of: $0) == name }, "\(name): \(lines)")
        }

        // A name whose file is a numbered one of another proxy's.
        let a = try await serve.create(#"{"name":"a","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        let a2 = try await serve.create(#"{"name":"a.2","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        #expect(a["log"] == .string("\(logs)/a.jsonl") && a2["log"] == .string("\(logs)/a.2.jsonl"))
        #expect(try await serve.call("PATCH", "/v1/proxies/a", body: #"{"enabled":false}"#).status == 200)
        let again = try await serve.call("PATCH", "/v1/proxies/a", body: #"{"enabled":true}"#)
        #expect(again.json?["log"] == .string("\(logs)/a.3.jsonl"), "\(again)")
        #expect(again.json?["pcap"] == .string("\(captures)/a.3.pcap"), "\(again)")

        // Deleting a proxy flushes its records; then each file is whole and its own.
        for name in names + ["a", "a.2"] {
            #expect(try await serve.call("DELETE", "/v1/proxies/\(name.replacingOccurrences(of: "/", with: "%2F"))").status == 204)
        }
        for (name, file) in files {
            let text = try String(contentsOfFile: file.log, encoding: .utf8)
            let lines = text.split(separator: "\n").map(String.init)
            #expect(lines.contains { $0.contains(#""type":"conn_close""#) }, "\(file.log): \(text)")
            #expect(lines.allSatisfy { Self.proxy(of: $0) == name }, "\(file.log): \(text)")
            let streams = try TCPStreamReassembler.streams(fromCaptureAt: file.pcap)
            #expect(
                streams.count == 2 && streams.allSatisfy { String(decoding: $0.clientToServer, as: UTF8.self) == "from \(name)" },
                "\(file.pcap): \(streams)"
            )
        }
        // Nothing was written anywhere else (no `x/` directory, no hidden file).
        let written = try FileManager.default.contentsOfDirectory(atPath: logs).sorted()
        #expect(written == ["a.2.jsonl", "a.3.jsonl", "a.jsonl", "x%2Fy.jsonl", "x_y.jsonl"], "\(written)")
        await serve.stop()
        await upstream.stop()
    }

    /// The `proxy` of one event line; nil when the line is not a whole JSON object.
    static func proxy(of line: String) -> String? {
        (try? JSONValue.parse(Data(line.utf8)))?["proxy"]?.stringValue
    }
}
