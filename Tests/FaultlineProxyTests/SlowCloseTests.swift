import FaultlineCore
import FaultlineProxy
import FaultlineTestSupport
import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOTestUtils
import Testing

/// `slow_close`: the end of stream in the rule's direction is held for its delay while
/// the data before it passes at once; a plan change that removes the rule lets it go.
@Suite(.timeLimit(.minutes(1)))
struct SlowCloseTests {
    static func plan(_ rules: String, seed: UInt64 = 7) throws -> FaultPlan {
        let text = "faultline: 1\nname: linger\ndescription: slow close test\nrules:\n" + rules
        return FaultPlan(profile: try ProfileLoader(library: []).load(text: text, file: "linger.yaml"), seed: seed)
    }

    /// What the server saw of one connection: its bytes, when they arrived and when its
    /// end of stream did.
    struct Arrival: Sendable {
        var bytes: String
        var dataAt: ContinuousClock.Instant
        var endAt: ContinuousClock.Instant
    }

    /// A server that reads until end of stream, reports what it saw, then answers "bye"
    /// and half-closes.
    ///
    /// It notes the times in a channel handler, on the event loop: a handler task on the
    /// cooperative pool can start seconds late on a loaded machine (seen: the data "came"
    /// 5 s after it was sent), which made the data look held with the end.
    struct Witness {
        let channel: any Channel
        var port: Int { self.channel.localAddress?.port ?? 0 }

        func stop() async {
            try? await self.channel.close()
        }
    }

    final class WitnessHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        private let report: AsyncStream<Arrival>.Continuation
        private var bytes = ""
        private var dataAt: ContinuousClock.Instant?

        init(report: AsyncStream<Arrival>.Continuation) {
            self.report = report
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if self.dataAt == nil { self.dataAt = .now }
            self.bytes += String(buffer: Self.unwrapInboundIn(data))
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard case .inputClosed = event as? ChannelEvent else {
                context.fireUserInboundEventTriggered(event)
                return
            }
            let endAt = ContinuousClock.now
            self.report.yield(Arrival(bytes: self.bytes, dataAt: self.dataAt ?? endAt, endAt: endAt))
            // Output closed once the write is out: with the input closed too, the
            // channel then closes.
            let context = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.value.writeAndFlush(Self.wrapOutboundOut(ByteBuffer(string: "bye"))).whenComplete { _ in
                context.value.close(mode: .output, promise: nil)
            }
        }
    }

    static func witness() async throws -> (Witness, AsyncStream<Arrival>) {
        let (arrivals, continuation) = AsyncStream.makeStream(of: Arrival.self)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(WitnessHandler(report: continuation))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return (Witness(channel: channel), arrivals)
    }

    @Test func theClientsFINReachesTheServerAfterTheDelayAndItsDataAtOnce() async throws {
        let (server, arrivals) = try await Self.witness()
        let plan = try Self.plan("  - {name: linger, match: {direction: upstream}, fault: {kind: slow_close, delay: 10s}}\n")
        let events = AwaitableEventSink()
        let (reply, arrival, finSent) = try await withProxy(upstreamPort: server.port, events: events, faults: plan) { _, port in
            try await withTimeout(.seconds(30)) {
                let client = try await TestClient.connect(port: port)
                let (reply, finSent) = try await client.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: "last words"))
                    let finSent = ContinuousClock.now
                    outbound.finish()
                    return (String(buffer: try await TestClient.readAll(inbound)), finSent)
                }
                var iterator = arrivals.makeAsyncIterator()
                return (reply, await iterator.next(), finSent)
            }
        }
        await server.stop()
        let seen = try #require(arrival)
        #expect(seen.bytes == "last words")
        #expect(reply == "bye", "the other direction flows on and ends as usual")
        // Loose bounds, for a busy machine (with both cores busy, a round trip was seen to
        // take 4 s): the FIN is held 10 s after it reached the proxy, which was after the
        // client sent it; the data before it was not held with it.
        #expect(seen.endAt - finSent >= .milliseconds(9500), "the end came \(seen.endAt - finSent) after the FIN was sent")
        #expect(seen.endAt - seen.dataAt >= .seconds(5), "the end came \(seen.endAt - seen.dataAt) after the data")
        let fault = try await withTimeout(.seconds(10)) { try await events.first { $0.type == .fault } }
        #expect(fault.rule == "linger" && fault.kind == "slow_close" && fault.action == "hold_close")
        #expect(fault.direction == .upstream)
        #expect(fault.params?["delay"] == "10s")
        #expect(fault.unit != nil)
        #expect(events.events.filter { $0.type == .fault }.count == 1)
        FaultsOverSocketsTests.expectTruthfulAccounting(events.events)
    }

    /// The server answers and ends its side before the client's end reaches it, so the
    /// proxy's client socket closes completely (both ways ended) while the client's
    /// FIN is still held: the held end survives the source's teardown.
    @Test func theEndIsHeldAfterTheClientsSideClosedCompletely() async throws {
        let (arrivals, continuation) = AsyncStream.makeStream(of: Arrival.self)
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                var bytes = String(buffer: try await TestClient.read(atLeast: 1, from: &iterator))
                let dataAt = ContinuousClock.now
                try await outbound.write(ByteBuffer(string: "bye"))
                outbound.finish()
                while let chunk = try await iterator.next() { bytes += String(buffer: chunk) }
                continuation.yield(Arrival(bytes: bytes, dataAt: dataAt, endAt: .now))
            }
        }
        let plan = try Self.plan("  - {name: linger, match: {direction: upstream}, fault: {kind: slow_close, delay: 10s}}\n")
        let events = AwaitableEventSink()
        let (reply, arrival, finSent) = try await withProxy(upstreamPort: server.port, events: events, faults: plan) { _, port in
            try await withTimeout(.seconds(30)) {
                let client = try await TestClient.connect(port: port)
                let (reply, finSent) = try await client.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: "x"))
                    let finSent = ContinuousClock.now
                    outbound.finish()
                    return (String(buffer: try await TestClient.readAll(inbound)), finSent)
                }
                var iterator = arrivals.makeAsyncIterator()
                return (reply, await iterator.next(), finSent)
            }
        }
        await server.stop()
        #expect(reply == "bye")
        let seen = try #require(arrival)
        #expect(seen.bytes == "x")
        // Only the end's delay is bounded here: this server stamps its times in a task
        // that a loaded run can start seconds late (the test above stamps them on the
        // event loop, and bounds the data's time too).
        #expect(seen.endAt - finSent >= .milliseconds(9500), "the end came \(seen.endAt - finSent) after the FIN was sent")
        #expect(events.events.filter { $0.type == .fault }.map(\.action) == ["hold_close"])
    }

    @Test func removingTheRuleReleasesAHeldEndAtOnce() async throws {
        let (server, arrivals) = try await Self.witness()
        // Held for a minute unless the rule goes.
        let plan = try Self.plan("  - {name: linger, match: {direction: upstream}, fault: {kind: slow_close, delay: 60s}}\n")
        let events = AwaitableEventSink()
        let arrival = try await withProxy(upstreamPort: server.port, events: events, faults: plan) { proxy, port in
            try await withTimeout(.seconds(30)) {
                let client = try await TestClient.connect(port: port)
                return try await client.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: "x"))
                    outbound.finish()
                    _ = try await events.first { $0.type == .fault && $0.rule == "linger" }
                    try await proxy.apply(.none)
                    var iterator = arrivals.makeAsyncIterator()
                    let arrival = await iterator.next()
                    #expect(String(buffer: try await TestClient.readAll(inbound)) == "bye")
                    return arrival
                }
            }
        }
        await server.stop()
        #expect(arrival?.bytes == "x")
        #expect(events.events.filter { $0.type == .fault }.map(\.action) == ["hold_close"])
    }

    @Test func outsideItsWindowAnEndIsNotHeld() async throws {
        let (server, arrivals) = try await Self.witness()
        // The rule is armed but its window has not begun: the end goes at once.
        let plan = try Self.plan("  - {name: linger, window: {after: 1h}, match: {direction: upstream}, fault: {kind: slow_close, delay: 60s}}\n")
        let events = AwaitableEventSink()
        let arrival = try await withProxy(upstreamPort: server.port, events: events, faults: plan) { _, port in
            try await withTimeout(.seconds(30)) {
                let client = try await TestClient.connect(port: port)
                try await client.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: "x"))
                    outbound.finish()
                    _ = try await TestClient.readAll(inbound)
                }
                var iterator = arrivals.makeAsyncIterator()
                return await iterator.next()
            }
        }
        await server.stop()
        #expect(arrival?.bytes == "x")
        #expect(!events.events.contains { $0.type == .fault })
    }
}

/// The same on loop time: exact, with no real waiting.
struct SlowCloseStageTests {
    static func setup(_ rules: String) throws -> FaultStageTests.Setup {
        let s = try FaultStageTests.setup(rules)
        // Connected, as a proxied channel is by the time most ends reach it.
        try s.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return s
    }

    @Test func theEndWaitsItsDelayAndTheDataBeforeItDoesNot() throws {
        // The stage under test passes its end to the reflector, which closes the
        // channel's output: the end of the direction written here (downstream).
        let s = try Self.setup("  - {name: linger, match: {direction: downstream}, fault: {kind: slow_close, delay: 500ms}}\n")
        try s.channel.writeInbound(ByteBuffer(string: "last words"))
        s.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try s.take() == "last words")
        #expect(s.counter.closeCalls == 0)
        s.advance(.milliseconds(499))
        #expect(s.counter.closeCalls == 0)
        s.advance(.milliseconds(1))
        #expect(s.counter.closeCalls == 1)
        let faults = s.events.events.filter { $0.type == .fault }
        #expect(faults.map(\.action) == ["hold_close"])
        #expect(faults.first?.direction == .downstream)
        #expect(faults.first?.params == ["delay": "500ms"])
    }

    /// A client that writes and ends at once has both read before the dial completes
    /// (swift-nio reads to the end when the peer's FIN arrives, whether or not a read
    /// was asked for): the end reaches a channel still connecting and is held all the
    /// same. Seen once in a full suite run before the fix: data and FIN together.
    @Test func anEndReachingAChannelStillConnectingIsHeld() throws {
        let s = try FaultStageTests.setup("  - {name: linger, match: {direction: downstream}, fault: {kind: slow_close, delay: 500ms}}\n")
        #expect(!s.channel.isActive)
        s.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(s.counter.closeCalls == 0)
        try s.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        s.advance(.milliseconds(499))
        #expect(s.counter.closeCalls == 0)
        s.advance(.milliseconds(1))
        #expect(s.counter.closeCalls == 1)
        #expect(s.events.events.filter { $0.type == .fault }.map(\.action) == ["hold_close"])
    }

    @Test func aRuleForTheOtherDirectionHoldsNothing() throws {
        let s = try Self.setup("  - {name: linger, match: {direction: upstream}, fault: {kind: slow_close, delay: 500ms}}\n")
        s.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(s.counter.closeCalls == 1)
        #expect(!s.events.events.contains { $0.type == .fault })
    }

    @Test func outsideItsWindowTheEndPasses() throws {
        let s = try Self.setup("  - {name: linger, window: {after: 10s}, fault: {kind: slow_close, delay: 500ms}}\n")
        s.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(s.counter.closeCalls == 1)
        #expect(!s.events.events.contains { $0.type == .fault })
    }

    @Test func aFullCloseEndsTheHold() throws {
        let s = try Self.setup("  - {name: linger, fault: {kind: slow_close, delay: 10s}}\n")
        let held = s.channel.eventLoop.makePromise(of: Void.self)
        s.channel.pipeline.close(mode: .output, promise: held)
        #expect(s.counter.closeCalls == 0)
        // A cut of the whole connection (or a proxy stopping) is not held.
        s.channel.pipeline.close(mode: .all, promise: nil)
        #expect(s.counter.closeCalls == 1)
        var settled = false
        held.futureResult.assumeIsolated().whenComplete { _ in settled = true }
        s.channel.embeddedEventLoop.run()
        #expect(settled, "the held close's promise completes with the full close")
    }
}
