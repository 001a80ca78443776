import FaultlineCore
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Message faults through the `faultline` binary, as a user runs them.
@Suite(.timeLimit(.minutes(1)))
struct MessageFaultCommandTests {
    @Test func duplicateDeliveryWithHTTPFramingRunsTheRequestTwiceAndLogsTheCopy() async throws {
        let directory = try RecordsCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("dup.jsonl").path
        let server = try await CountingHTTPServer.start()
        let proxy = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(server.port)",
            "--profile", "duplicate-delivery", "--framing", "http", "--seed", "11", "--log", log,
            // The stop below comes once the server has executed the copy, with its reply
            // maybe not yet back: shutdown waits for it, but only for the grace (5 s by
            // default, which a server handler held back on a loaded machine can outlast,
            // and the copy would be cut off without its reply). A long grace costs nothing:
            // shutdown ends as soon as the copy's reply is recorded.
            "--grace", "30s",
        ])
        let port = try #require(await proxy.listeningPort())
        let request = HTTPTestMessage.request("POST", "/orders", id: "cli-order", key: "cli-key", body: "{\"qty\":2}")
        let reply = try await SocketClient.call(port: port, request: Array(request.utf8), isComplete: HTTPTestMessage.isCompleteResponse)
        try await withTimeout(.seconds(10)) { await server.waitForExecutions(of: "cli-order", count: 2) }
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)
        await server.stop(afterServing: 2)

        guard case .reply(let text) = reply else {
            Issue.record("the client should get one reply, got \(reply)")
            return
        }
        #expect(text.hasPrefix("HTTP/1.1 200 OK"))
        #expect(server.executions(of: "cli-order") == 2)
        let events = try EventLogReader.read(path: log)
        #expect(events.first?.framing == "http" && events.first?.profile == "duplicate-delivery" && events.first?.seed == 11)
        let fault = try #require(events.first { $0.type == .fault })
        #expect(fault.rule == "deliver-twice" && fault.action == "duplicate" && fault.unit == 0)
        // Shutdown waited for the copy: its reply is in the log.
        let copy = try #require(events.first { $0.type == .duplicateReply })
        #expect(copy.status == 200 && copy.idempotencyKey == "cli-key" && copy.method == "POST")
        #expect(events.first { $0.type == .connectionClose }?.duplicatedUpstream == request.utf8.count)
        #expect(Accounting.check(events).isEmpty)
    }

    @Test func aProfileWithMessageRulesNeedsFraming() async throws {
        let result = try await FaultlineBinary.run([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--profile", "reply-lost",
        ])
        #expect(result.status == 2)
        #expect(result.stderr.contains("library:reply-lost:"), "stderr was: \(result.stderr)")
        #expect(result.stderr.contains("rule 'lose-first-reply' acts on whole messages"), "stderr was: \(result.stderr)")
        #expect(result.stderr.contains("--framing http, resp, line or length"), "stderr was: \(result.stderr)")
    }

    @Test func theProfilesFramingIsUsedAndTheFlagOverridesIt() async throws {
        let server = try await CountingHTTPServer.start()
        let directory = try RecordsCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("events.jsonl").path
        // reply-lost-post says 'framing: http': no flag needed.
        let framed = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(server.port)", "--profile", "reply-lost-post",
            "--log", log,
        ])
        let port = try #require(await framed.listeningPort())
        // The client waits until the proxy logs the lost reply (a fixed timeout could
        // end before a reply came back unlost, and pass by accident).
        let lost = await Result(catching: {
            try await SocketClient.call(
                port: port, request: Array(HTTPTestMessage.request("POST", "/a", id: "a", body: "1").utf8),
                isComplete: HTTPTestMessage.isCompleteResponse
            ) {
                try await waitUntilLogged("fault", in: log)
            }
        })
        #expect(throws: TimedOut.self) { try lost.get() }
        try await withTimeout(.seconds(10)) { await server.waitForExecutions(of: "a", count: 1) }
        #expect(server.executions(of: "a") == 1)
        framed.signal(SIGTERM)
        #expect(await framed.exitStatus() == 0)

        // --framing resp overrides it: a profile answering HTTP statuses then cannot run.
        let text = """
            faultline: 1
            name: busy
            description: answers 503 in the server's place
            framing: http
            rules:
              - name: busy
                fault: {kind: respond, status: 503}
            """
        let file = directory.appendingPathComponent("busy.yaml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let overridden = try await FaultlineBinary.run([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(server.port)", "--profile", file.path, "--framing", "resp",
        ])
        #expect(overridden.status == 2)
        #expect(overridden.stderr.contains("busy.yaml:6:5: rule 'busy': with --framing resp, a RESP reply needs 'error'"), "stderr was: \(overridden.stderr)")
        await server.stop(afterServing: 1)
    }
}
