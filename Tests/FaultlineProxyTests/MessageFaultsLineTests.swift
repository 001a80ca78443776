import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import Testing

/// Message faults on a newline-delimited protocol, in front of an echo server: the same
/// faults work on any framing.
@Suite(.timeLimit(.minutes(1)))
struct MessageFaultsLineTests {
    static let line = FramingConfiguration(kind: .line)

    static func plan(_ rules: String) throws -> FaultPlan {
        let text = "faultline: 1\nname: lines\ndescription: line test\nframing: line\nrules:\n" + rules
        return FaultPlan(profile: try ProfileLoader(library: []).load(text: text, file: "lines.yaml"), seed: 2)
    }

    /// Sends `text` and reads until `lines` newlines came back.
    static func call(_ port: Int, _ text: String, lines: Int) async throws -> SocketClient.Reply {
        try await SocketClient.call(port: port, request: Array(text.utf8)) { bytes in bytes.filter { $0 == 10 }.count >= lines }
    }

    @Test func aHeldRequestGoesOnWhenItsTimeIsUpIfNothingOvertakesIt() async throws {
        let plan = try Self.plan("  - {name: hold, fault: {kind: reorder, after: 1, delay: 100ms}}\n")
        let echo = try await TestServer.echo()
        let events = AwaitableEventSink()
        let reply = try await withProxy(upstreamPort: echo.port, events: events, faults: plan, framing: Self.line) { _, port in
            try await Self.call(port, "only one\n", lines: 1)
        }
        await echo.stop()
        #expect(reply == .reply("only one\n"))
        let faults = events.events.filter { $0.type == .fault }
        #expect(faults.map(\.action) == ["reorder", "released"])
        #expect(faults.last?.params?["reason"] == "its delay was up" && faults.last?.unit == 0)
        #expect(Accounting.check(events.events) == [])
    }

    @Test func respondAndDuplicateWorkOnLines() async throws {
        let plan = try Self.plan(
            """
              - {name: busy, match: {message: {first: 1}}, fault: {kind: respond, body: busy}}
              - {name: twice, match: {message: {skip: 1}}, fault: {kind: duplicate}}
            """
        )
        let echo = try await TestServer.echo()
        let events = AwaitableEventSink()
        let reply = try await withProxy(upstreamPort: echo.port, events: events, faults: plan, framing: Self.line) { _, port in
            let reply = try await Self.call(port, "first\nsecond\n", lines: 2)
            _ = try await withTimeout(.seconds(10)) { try await events.first { $0.type == .duplicateReply } }
            return reply
        }
        await echo.stop()
        #expect(reply == .reply("busy\nsecond\n"))
        let copy = try #require(events.events.first { $0.type == .duplicateReply })
        #expect(copy.unit == 1 && copy.bytes == "second\n".utf8.count && copy.reason == nil)
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.injectedDownstream == "busy\n".utf8.count && close.droppedUpstream == "first\n".utf8.count)
        #expect(close.duplicatedUpstream == "second\n".utf8.count)
        #expect(Accounting.check(events.events) == [])
    }

    /// A client that sends and half-closes at once is read before the upstream is
    /// connected (NIO reads to the end of input when it sees the FIN), so a cut can be
    /// decided then: it must still happen, once the connection is bridged. Repeated,
    /// since the race does not come every time.
    @Test func aCutDecidedBeforeTheUpstreamIsConnectedStillHappens() async throws {
        let plan = try Self.plan("  - {name: cut, match: {direction: upstream, message: {skip: 1, first: 2}}, fault: {kind: sever, mode: reset, at: before}}\n")
        let echo = try SocketEchoServer()
        defer { echo.stop() }
        let events = AwaitableEventSink()
        let endings = try await withProxy(upstreamPort: echo.port, events: events, faults: plan, framing: Self.line) { _, port in
            var endings: [SocketClient.Ending] = []
            for _ in 0..<60 {
                // The limit only guards a cut that never comes: with both cores busy a
                // dial can take seconds (5 s was once too short).
                endings.append(try await SocketClient.exchange(port: port, request: "aaaa\nbbbb\ncccc\n", finish: true, limit: .seconds(20)))
            }
            return endings
        }
        let stuck = endings.enumerated().filter { if case .timedOut = $0.element { true } else { false } }.map(\.offset)
        #expect(stuck.isEmpty, "connections \(stuck) were never cut: \(stuck.map { endings[$0] })")
        #expect(endings.allSatisfy { [SocketClient.Ending.reset(""), .reset("aaaa\n")].contains($0) })
        // Every connection was opened and closed in the log, its bytes accounted.
        #expect(events.events.filter { $0.type == .connectionClose }.count == 60)
        #expect(Accounting.check(events.events) == [])
    }
}
