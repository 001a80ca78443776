import FaultlineCore
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import NIOCore
import Testing

/// A plan change that removes or changes a delay or bandwidth rule lets go of what the
/// rule holds on open connections: it leaves at once, in order and byte-exact, and the
/// log says so with a `released` event (reason `plan_change`), so no `delay` in it
/// claims a wait that did not happen. A rule kept as it was keeps holding.
@Suite(.timeLimit(.minutes(1)))
struct LivePlanReleaseTests {
    /// What a release may take at most, on a loaded machine, and still be "at once":
    /// far below what the rules below would hold.
    static let promptly = Duration.seconds(15)

    /// One client through a proxy with `rules` to an echo server; `body` gets the proxy,
    /// the client's writer and reader. The server says how much it has echoed to
    /// `echoed`, when given.
    static func throughEcho(
        rules: String,
        events: AwaitableEventSink,
        echoed: AsyncStream<Int>.Continuation? = nil,
        _ body: (TCPProxy, NIOAsyncChannelOutboundWriter<ByteBuffer>, inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) async throws -> Void
    ) async throws {
        let echo: TestServer
        if let echoed {
            echo = try await TestServer.echo(reporting: echoed)
        } else {
            echo = try await LivePlanTests.echoServer()
        }
        let plan = FaultPlan(profile: try LivePlanTests.profile(rules), seed: 7)
        try await withProxy(upstreamPort: echo.port, events: events, faults: plan) { proxy, port in
            let client = try await TestClient.connect(port: port)
            try await client.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                try await body(proxy, outbound, &iterator)
            }
        }
        await echo.stop()
    }

    static func heldBy(_ rule: String, in events: AwaitableEventSink) async throws {
        _ = try await withTimeout(.seconds(30)) {
            try await events.first { $0.type == .fault && $0.rule == rule && $0.direction == .downstream }
        }
    }

    @Test func removingADelayReleasesWhatItHoldsAtOnce() async throws {
        let events = AwaitableEventSink()
        let clock = ContinuousClock()
        try await Self.throughEcho(
            rules: "  - {name: slow, match: {direction: downstream}, fault: {kind: delay, latency: 60s}}",
            events: events
        ) { proxy, outbound, iterator in
            try await outbound.write(ByteBuffer(string: "ping"))
            try await Self.heldBy("slow", in: events)
            let removed = clock.now
            try await proxy.apply(.none)
            // The suite's time limit guards the read against a hang.
            let reply = String(buffer: try await TestClient.read(atLeast: 4, from: &iterator))
            #expect(reply == "ping")
            #expect(clock.now - removed < Self.promptly, "the echo waited for a delay no longer in the plan")
            // Later data follows the plan in force: no delay.
            try await outbound.write(ByteBuffer(string: "pong"))
            #expect(String(buffer: try await TestClient.read(atLeast: 4, from: &iterator)) == "pong")
        }
        let log = events.events
        let delay = try #require(log.first { $0.type == .fault && $0.action == "delay" })
        let released = log.filter { $0.action == "released" }
        #expect(released.count == 1, "\(released)")
        let release = try #require(released.first)
        #expect(release.rule == "slow" && release.kind == "delay" && release.unit == delay.unit && release.plan == 1)
        #expect(release.direction == .downstream && release.bytes == 4)
        #expect(release.params?["reason"] == "plan_change" && release.params?["delay"] == delay.params?["delay"], "\(release)")
        let heldFor = try #require(release.params?["held_for"].flatMap(DurationText.parse))
        #expect(heldFor < .seconds(60))
        let change = try #require(log.firstIndex { $0.type == .planChange })
        #expect(try #require(log.firstIndex { $0.action == "released" }) > change, "released after the change that ended the rule")
        #expect(Accounting.check(log) == [])
        let close = try #require(log.first { $0.type == .connectionClose })
        #expect(close.droppedDownstream == 0 && close.bytesToClient == 8)
    }

    /// The rate relaxed while most of a 64 KiB echo waits for it: the rest comes at
    /// once, every byte in order.
    @Test func relaxingABandwidthReleasesTheRestByteExact() async throws {
        let events = AwaitableEventSink()
        let clock = ContinuousClock()
        let size = 64 * 1024
        var pattern = PatternBytes(seed: 5, total: size)
        let chunk = pattern.next(size: size)
        let sent = try #require(chunk)
        let (echoed, echoedSoFar) = AsyncStream<Int>.makeStream()
        try await Self.throughEcho(
            rules: "  - {name: thin, match: {direction: downstream}, fault: {kind: bandwidth, bytes_per_second: 1000}}",
            events: events,
            echoed: echoedSoFar
        ) { proxy, outbound, iterator in
            try await outbound.write(sent)
            try await Self.heldBy("thin", in: events)
            // And the whole echo is back at the proxy: the rule's first chunk alone (half
            // a second at its rate) could be gone before a loaded machine applied the
            // change, leaving nothing to release.
            try await TestServer.untilEchoed(size, in: echoed)
            let relaxed = clock.now
            try await proxy.apply(
                LivePlanTests.profile("  - {name: thin, match: {direction: downstream}, fault: {kind: bandwidth, bytes_per_second: 100000000}}")
            )
            let received = try await TestClient.read(atLeast: size, from: &iterator)
            #expect(received == sent, "byte-exact, in order")
            #expect(clock.now - relaxed < Self.promptly, "the rest waited for the old rate (64 s)")
        }
        let log = events.events
        let released = log.filter { $0.action == "released" }
        #expect(released.count == 1, "\(released)")
        let release = try #require(released.first)
        #expect(release.rule == "thin" && release.kind == "bandwidth" && release.plan == 1, "\(release)")
        #expect(release.params?["reason"] == "plan_change" && release.params?["bytes_per_second"] == "1000", "\(release)")
        #expect((release.bytes ?? 0) > 0 && (release.bytes ?? 0) <= size, "\(release)")
        #expect(Accounting.check(log) == [])
        let close = try #require(log.first { $0.type == .connectionClose })
        #expect(close.droppedDownstream == 0 && close.bytesToClient == size)
    }

    /// A change that leaves the holding rule as it was lets go of nothing: only the
    /// later change that removes it does.
    @Test func aRuleKeptAsItWasKeepsHolding() async throws {
        let events = AwaitableEventSink()
        let slow = "  - {name: slow, match: {direction: downstream}, fault: {kind: delay, latency: 60s}}"
        try await Self.throughEcho(
            rules: slow + "\n  - {name: other, match: {direction: upstream}, fault: {kind: delay, latency: 1ms}}",
            events: events
        ) { proxy, outbound, iterator in
            try await outbound.write(ByteBuffer(string: "ping"))
            try await Self.heldBy("slow", in: events)
            // `other` goes, `slow` moves up a place: the echo stays held.
            try await proxy.apply(LivePlanTests.profile(slow))
            #expect(!events.events.contains { $0.action == "released" }, "a kept rule let go")
            try await proxy.apply(.none)
            #expect(events.events.filter { $0.action == "released" }.map(\.rule) == ["slow"])
            // The suite's time limit guards the read against a hang.
            let reply = String(buffer: try await TestClient.read(atLeast: 4, from: &iterator))
            #expect(reply == "ping")
        }
        #expect(Accounting.check(events.events) == [])
    }
}
