import FaultlineCore
import FaultlineServe
import FaultlineTestSupport
import Foundation
import Testing

/// A proxy made through the API can record each framed message's bytes, as
/// `faultline proxy --record-payloads` does, so `check idempotency` can replay its log.
@Suite(.timeLimit(.minutes(1)))
struct RecordPayloadsTests {
    @Test func aProxyMadeWithRecordPayloadsLogsEachMessagesBytes() async throws {
        let directory = NSTemporaryDirectory() + "faultline-payloads-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: directory))
        let made = try await serve.create(#"{"name":"kept","upstream":"127.0.0.1:\#(upstream.port)","framing":"line","record_payloads":true}"#)
        #expect(made["record_payloads"] == .bool(true), "\(made)")
        let port = Traffic.port(of: try #require(made["listen"]?.stringValue))
        let ending = try await SocketClient.exchange(port: port, request: "deposit 10\n", finish: true, limit: .seconds(20))
        #expect(ending == .eof("deposit 10\n"))
        #expect(try await serve.call("DELETE", "/v1/proxies/kept").status == 204)

        let log = try String(contentsOfFile: try #require(made["log"]?.stringValue), encoding: .utf8)
        let request = try #require(log.split(separator: "\n").first { $0.contains(#""type":"message""#) && $0.contains(#""direction":"upstream""#) })
        let payload = Data("deposit 10\n".utf8).base64EncodedString()
        #expect(request.contains(#""payload":"\#(payload)""#), "\(request)")

        // Without framing there are no messages to record: refused, nothing made.
        let raw = try await serve.call("POST", "/v1/proxies", body: #"{"name":"bare","upstream":"127.0.0.1:\#(upstream.port)","record_payloads":true}"#)
        #expect(raw.status == 400 && raw.body.contains("record_payloads needs framing"), "\(raw)")
        #expect(try await serve.call("GET", "/v1/proxies/bare").status == 404)
        await serve.stop()
        await upstream.stop()
    }
}
