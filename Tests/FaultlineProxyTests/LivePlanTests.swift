import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

/// Plans changed while a TCP proxy runs: new data on connections already open follows
/// the new plan, no connection is dropped for it, and the log says which plan decided
/// each fault.
@Suite(.timeLimit(.minutes(1)))
struct LivePlanTests {
    static func profile(_ rules: String, framing: String? = nil) throws -> Profile {
        let framingLine = framing.map { "framing: \($0)\n" } ?? ""
        let text = "faultline: 1\nname: live\ndescription: live plan test\n\(framingLine)rules:\n" + rules + "\n"
        return try ProfileLoader(library: []).load(text: text, file: "live.yaml")
    }

    static func echoServer() async throws -> TestServer {
        try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                for try await chunk in inbound {
                    try await outbound.write(chunk)
                }
            }
        }
    }

    /// One client connection through a proxy to an echo server; `body` gets the proxy,
    /// a way to send without waiting, and a round trip (send, then read the echo).
    static func throughEcho(
        events: AwaitableEventSink,
        framing: FramingConfiguration = .raw,
        _ body: (TCPProxy, _ send: (String) async throws -> Void, _ roundTrip: (String) async throws -> String) async throws -> Void
    ) async throws {
        let echo = try await Self.echoServer()
        try await withProxy(upstreamPort: echo.port, events: events, framing: framing) { proxy, port in
            let client = try await TestClient.connect(port: port)
            try await client.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                func send(_ text: String) async throws {
                    try await outbound.write(ByteBuffer(string: text))
                }
                func roundTrip(_ text: String) async throws -> String {
                    try await send(text)
                    return String(buffer: try await TestClient.read(atLeast: text.utf8.count, from: &iterator))
                }
                try await body(proxy, send, roundTrip)
            }
        }
        await echo.stop()
    }

    @Test func aRuleAddedChangedAndRemovedActsOnAnOpenConnection() async throws {
        let events = AwaitableEventSink()
        try await Self.throughEcho(events: events) { proxy, send, roundTrip in
            #expect(try await roundTrip("one") == "one")
            // Added to a connection that had no stages: they are inserted.
            try await proxy.apply(Self.profile("  - {name: slow, match: {direction: upstream}, fault: {kind: delay, latency: 1ms}}"))
            #expect(try await roundTrip("two") == "two")
            // Changed: the same rule, another latency.
            try await proxy.apply(Self.profile("  - {name: slow, match: {direction: upstream}, fault: {kind: delay, latency: 2ms}}"))
            #expect(try await roundTrip("three") == "three")
            // Removed.
            try await proxy.apply(.none)
            #expect(try await roundTrip("four") == "four")
            // A blackhole swallows what is sent while it is in force, and lets go
            // once it is removed: the echo of "back" comes without "lost".
            try await proxy.apply(Self.profile("  - {name: void, match: {direction: upstream}, fault: {kind: blackhole}}"))
            try await send("lost")
            _ = try await withTimeout(.seconds(10)) { try await events.first { $0.type == .fault && $0.rule == "void" } }
            try await proxy.apply(.none)
            #expect(try await roundTrip("back") == "back")
        }

        let faults = events.events.filter { $0.type == .fault }
        #expect(faults.map(\.rule) == ["slow", "slow", "void"])
        #expect(faults.map(\.plan) == [2, 3, 5])
        #expect(faults.map { $0.params?["delay"] } == ["1ms", "2ms", nil])
        let changes = events.events.filter { $0.type == .planChange }
        #expect(changes.map(\.plan) == [2, 3, 4, 5, 6])
        #expect(changes.map(\.profile) == ["live", "live", "none", "live", "none"])
        #expect(events.events.first { $0.type == .proxyStart }?.plan == nil, "a proxy started without a plan says nothing of one")
        // One connection throughout, and only the blackholed bytes were dropped.
        #expect(events.events.filter { $0.type == .connectionOpen }.count == 1)
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.droppedUpstream == 4)
        #expect(Accounting.check(events.events) == [])
    }

    @Test func aTimedSeverAddedLaterCountsFromTheChange() async throws {
        let echo = try await Self.echoServer()
        let events = AwaitableEventSink()
        let ending = try await withProxy(upstreamPort: echo.port, events: events, faults: .passthrough()) { proxy, port in
            let client = try await TestClient.connect(port: port)
            return try await client.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                try await outbound.write(ByteBuffer(string: "hello"))
                _ = try await TestClient.read(atLeast: 5, from: &iterator)
                try await proxy.apply(Self.profile("  - {name: unplug, fault: {kind: sever, mode: fin, after: 100ms}}"))
                // The server never closes: only the new rule can end the connection.
                while try await iterator.next() != nil {}
                return "ended"
            }
        }
        await echo.stop()
        #expect(ending == "ended")
        let fault = try #require(events.events.first { $0.type == .fault })
        #expect(fault.rule == "unplug" && fault.action == "fin" && fault.plan == 2)
        let change = try #require(events.events.first { $0.type == .planChange })
        let gap = Duration.nanoseconds(Int64(fault.mono! - change.mono!))
        #expect(gap >= .milliseconds(90), "counted from the change, not from the connection's open")
    }

    @Test func aProfileTheProxyCannotCarryIsRefusedAndThePlanStays() async throws {
        let echo = try await Self.echoServer()
        let events = AwaitableEventSink()
        try await withProxy(upstreamPort: echo.port, events: events) { proxy, _ in
            // Message rules without framing.
            await #expect(throws: ProfileError.self) {
                try await proxy.apply(Self.profile("  - {name: lose, match: {path: /x}, fault: {kind: drop}}"))
            }
            #expect(proxy.plan.number == 1)
        }
        await echo.stop()
        #expect(!events.events.contains { $0.type == .planChange })
    }

    /// Decision keys come from rule names: taking rule A out of a plan, even mid-way
    /// through a connection, leaves what rule B decides unit by unit unchanged.
    @Test func removingOneRuleLeavesTheOthersDecisionsAsTheyWere() throws {
        let both = try Self.profile(
            """
              - {name: a, probability: 0.5, fault: {kind: delay, latency: 5ms}}
              - {name: b, probability: 0.5, fault: {kind: delay, latency: 7ms}}
            """
        )
        let onlyB = Profile(name: both.name, description: both.description, rules: [both.rules[1]])
        func decisionsOfB(_ faults: inout ConnectionFaults, units: Range<Int>) -> [Bool] {
            units.map { _ in
                faults.decide(direction: .upstream, bytes: 10, sinceProxyStart: .zero, sinceOpen: .zero).fired.contains { $0.rule == "b" }
            }
        }
        let live = LivePlan(FaultPlan(profile: both, seed: 42))
        var changed = ConnectionFaults(live.current, ordinal: 3, client: nil)
        let before = decisionsOfB(&changed, units: 0..<500)
        changed.adopt(live.replace(with: onlyB))
        let after = decisionsOfB(&changed, units: 500..<1000)

        var alone = ConnectionFaults(LivePlan(FaultPlan(profile: onlyB, seed: 42)).current, ordinal: 3, client: nil)
        let reference = decisionsOfB(&alone, units: 0..<1000)
        #expect(before + after == reference)
        #expect(reference.filter { $0 }.count > 100, "b fires often enough for the comparison to mean something")
    }

    /// A message stage's delay belongs to its message. When a later stage discards the
    /// message (here a downstream blackhole), its delay must not land on the next write
    /// to the client: an answer faultline gives in the server's place. The delay is far
    /// longer than the client waits, so a lent delay shows as a timeout, whatever the
    /// machine's load.
    @Test func aDiscardedMessagesDelayIsNotLentToTheNextWrite() async throws {
        let plan = FaultPlan(
            profile: try Self.profile(
                """
                  - {name: slow-a, match: {direction: downstream, path: /a}, fault: {kind: delay, latency: 10m}}
                  - {name: void, match: {direction: downstream}, fault: {kind: blackhole}}
                  - {name: busy-b, match: {path: /b}, fault: {kind: respond, status: 503}}
                """,
                framing: "http"
            ),
            seed: 1
        )
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let pipelined = HTTPTestMessage.request("GET", "/a", id: "a") + HTTPTestMessage.request("GET", "/b", id: "b")
        let reply = try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: FramingConfiguration(kind: .http)) {
            _, port in
            try await SocketClient.call(port: port, request: Array(pipelined.utf8), limit: .seconds(20)) { received in
                String(decoding: received, as: UTF8.self).contains("503")
            }
        }
        await server.stop(afterServing: 1)
        guard case .reply(let text) = reply else {
            Issue.record("expected the 503, got \(reply): the discarded reply's delay held it")
            return
        }
        #expect(text.hasPrefix("HTTP/1.1 503"))
        #expect(events.events.filter { $0.type == .fault }.compactMap(\.rule).sorted() == ["busy-b", "slow-a", "void"])
    }

    /// A blackhole decided on a message lets go once its rule leaves the plan, as a
    /// chunk's does: the next message goes through on the same connection.
    @Test func aMessageBlackholeRemovedLiveLetsMessagesThroughAgain() async throws {
        let events = AwaitableEventSink()
        // Without the fix "back" is discarded too: the suite's time limit ends the wait.
        try await Self.throughEcho(events: events, framing: FramingConfiguration(kind: .line)) { proxy, send, roundTrip in
            #expect(try await roundTrip("one\n") == "one\n")
            try await proxy.apply(Self.profile("  - {name: void, match: {direction: upstream, message: {skip: 1}}, fault: {kind: blackhole}}", framing: "line"))
            try await send("lost\n")
            _ = try await withTimeout(.seconds(10)) { try await events.first { $0.type == .fault && $0.rule == "void" } }
            try await proxy.apply(.none)
            #expect(try await roundTrip("back\n") == "back\n")
        }
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.droppedUpstream == "lost\n".utf8.count)
        #expect(Accounting.check(events.events) == [])
    }

    /// Message rules that arrive while requests wait for replies still know those
    /// requests: the connection keeps one exchange from its first byte, so an answer
    /// given in the server's place waits behind the reply owed for a request forwarded
    /// before the plan change, as HTTP's in-order replies require.
    @Test func anAnswerFromANewRuleWaitsForARequestForwardedBeforeIt() async throws {
        let (arrivals, arrived) = AsyncStream.makeStream(of: String.self)
        let (releases, release) = AsyncStream.makeStream(of: Void.self)
        // Answers each GET with its path, but /a only when the test says so.
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                var pending = ""
                var releaseIterator = releases.makeAsyncIterator()
                for try await chunk in inbound {
                    pending += String(buffer: chunk)
                    while let end = pending.range(of: "\r\n\r\n") {
                        let head = pending[..<end.lowerBound]
                        pending = String(pending[end.upperBound...])
                        let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
                        arrived.yield(path)
                        if path == "/a" { _ = await releaseIterator.next() }
                        try await outbound.write(ByteBuffer(string: HTTPTestMessage.response(body: path)))
                    }
                }
            }
        }
        let events = AwaitableEventSink()
        let received = try await withProxy(upstreamPort: server.port, events: events, framing: FramingConfiguration(kind: .http)) {
            proxy, port in
            let client = try await TestClient.connect(port: port)
            return try await client.executeThenClose { inbound, outbound in
                var serverSaw = arrivals.makeAsyncIterator()
                try await outbound.write(ByteBuffer(string: HTTPTestMessage.request("GET", "/a", id: "a")))
                #expect(await serverSaw.next() == "/a")
                try await proxy.apply(Self.profile("  - {name: busy-b, match: {path: /b}, fault: {kind: respond, status: 503}}", framing: "http"))
                try await outbound.write(ByteBuffer(string: HTTPTestMessage.request("GET", "/b", id: "b")))
                _ = try await withTimeout(.seconds(10)) { try await events.first { $0.type == .fault && $0.rule == "busy-b" } }
                release.yield()
                var bytes: [UInt8] = []
                var iterator = inbound.makeAsyncIterator()
                while HTTPTestMessage.completeMessages(in: bytes) < 2, let chunk = try await iterator.next() {
                    bytes += Array(chunk.readableBytesView)
                }
                return String(decoding: bytes, as: UTF8.self)
            }
        }
        release.finish()
        await server.stop()
        #expect(received.hasPrefix("HTTP/1.1 200 OK"), "the reply owed for /a comes first: \(received)")
        let second = received.range(of: "HTTP/1.1 503").map { received.distance(from: received.startIndex, to: $0.lowerBound) }
        let first = received.range(of: "\r\n\r\n/a").map { received.distance(from: received.startIndex, to: $0.lowerBound) }
        #expect(first != nil && second != nil && first! < second!, "the 503 waited behind /a's reply: \(received)")
    }
}
