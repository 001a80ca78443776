import FaultlineCore
import FaultlineProxy
import FaultlineTestSupport
import Foundation
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every TCP fault kind, as a real client socket on 127.0.0.1 sees it.
@Suite(.timeLimit(.minutes(1)))
struct FaultsOverSocketsTests {
    static func plan(_ rules: String, seed: UInt64 = 7) throws -> FaultPlan {
        let text = "faultline: 1\nname: sockets\ndescription: socket test\nrules:\n" + rules
        return FaultPlan(profile: try ProfileLoader(library: []).load(text: text, file: "sockets.yaml"), seed: seed)
    }

    /// Per direction, bytes read = bytes written + bytes the log says were dropped.
    static func expectTruthfulAccounting(_ events: MemoryEventSink, sourceLocation: SourceLocation = #_sourceLocation) {
        Self.expectTruthfulAccounting(events.events, sourceLocation: sourceLocation)
    }

    static func expectTruthfulAccounting(_ events: [Event], sourceLocation: SourceLocation = #_sourceLocation) {
        for close in events where close.type == .connectionClose {
            #expect(close.bytesFromClient == (close.bytesToUpstream ?? 0) + (close.droppedUpstream ?? 0), sourceLocation: sourceLocation)
            #expect(close.bytesFromUpstream == (close.bytesToClient ?? 0) + (close.droppedDownstream ?? 0), sourceLocation: sourceLocation)
        }
    }

    /// What a watcher saw first, or "silence" when none saw anything within `window`
    /// after `start` returned. Proving that nothing arrives takes a real window: it is
    /// the one wait these tests make on purpose.
    static func firstOrSilence(
        window: Duration,
        startingAfter start: @escaping @Sendable () async -> Void = {},
        _ watchers: [@Sendable () async throws -> String]
    ) async throws -> String {
        try await withThrowingTaskGroup(of: String.self) { group in
            for watcher in watchers { group.addTask(operation: watcher) }
            group.addTask {
                await start()
                try await Task.sleep(for: window)
                return "silence"
            }
            defer { group.cancelAll() }
            return try await group.next() ?? "none"
        }
    }

    /// An echo server whose `stop` first waits until it has taken every connection the
    /// proxy opened to it (a connection left unserved when it stops would trap in NIO).
    struct CountingEcho {
        let server: TestServer
        let served: AsyncStream<Void>
        var port: Int { self.server.port }

        static func start() async throws -> CountingEcho {
            let (served, continuation) = AsyncStream<Void>.makeStream()
            let server = try await TestServer.start { connection in
                continuation.yield()
                try await connection.executeThenClose { inbound, outbound in
                    for try await chunk in inbound {
                        try await outbound.write(chunk)
                    }
                }
            }
            return CountingEcho(server: server, served: served)
        }

        func stop(after events: MemoryEventSink) async {
            let opened = events.events.filter { $0.type == .connectionOpen }.count
            var iterator = self.served.makeAsyncIterator()
            for _ in 0..<opened { await iterator.next() }
            await self.server.stop()
        }
    }

    typealias Ending = SocketClient.Ending

    /// Sends `request` (then FIN when `finish`), reads until the connection ends, and
    /// says how it ended as the kernel saw it.
    static func exchange(port: Int, request: String, finish: Bool = false) async throws -> Ending {
        try await SocketClient.exchange(port: port, request: request, finish: finish)
    }

    @Test func resetIsSeenAsECONNRESET() async throws {
        let echo = try await CountingEcho.start()
        let events = MemoryEventSink()
        let plan = try Self.plan("  - {name: cut, match: {direction: downstream}, fault: {kind: sever, mode: reset, after_bytes: 5}}\n")
        let ending = try await withProxy(upstreamPort: echo.port, events: events, faults: plan) { _, port in
            try await Self.exchange(port: port, request: "hello world")
        }
        await echo.stop(after: events)
        guard case .reset(let received) = ending else {
            Issue.record("expected a reset, got \(ending)")
            return
        }
        #expect("hello".hasPrefix(received))
        let fault = try #require(events.events.first { $0.type == .fault })
        #expect(fault.rule == "cut")
        #expect(fault.action == "reset")
        #expect(fault.params?["at_byte"] == "5")
        #expect(fault.direction == .downstream)
        Self.expectTruthfulAccounting(events)
        // The close says the proxy reset both sides, and when: at the cut.
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.reason == "reset" && close.closedBy == "proxy", "\(close)")
        #expect(close.firstCloseMono.map { $0 >= (fault.mono ?? .max) && $0 <= (close.mono ?? 0) } == true, "\(close)")
    }

    @Test func finIsSeenAsEOFAfterExactlyTheBytesBeforeTheOffset() async throws {
        let echo = try await CountingEcho.start()
        let plan = try Self.plan("  - {name: cut, match: {direction: downstream}, fault: {kind: sever, mode: fin, after_bytes: 5}}\n")
        let events = MemoryEventSink()
        let ending = try await withProxy(upstreamPort: echo.port, events: events, faults: plan) { _, port in
            try await Self.exchange(port: port, request: "hello world")
        }
        await echo.stop(after: events)
        #expect(ending == .eof("hello"))
        Self.expectTruthfulAccounting(events)
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.bytesToClient == 5)
        #expect(close.reason == "closed" && close.closedBy == "proxy" && close.firstCloseMono != nil, "\(close)")
    }

    @Test func halfCloseEndsOneDirectionOnly() async throws {
        // The server answers once it sees end of stream: it sees it after 4 bytes.
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                let request = try await TestClient.readAll(inbound)
                try await outbound.write(ByteBuffer(string: "got " + String(buffer: request)))
            }
        }
        let plan = try Self.plan("  - {name: half, match: {direction: upstream}, fault: {kind: sever, mode: half-close, after_bytes: 4}}\n")
        let ending = try await withProxy(upstreamPort: server.port, faults: plan) { _, port in
            try await Self.exchange(port: port, request: "abcdefgh")
        }
        await server.stop()
        #expect(ending == .eof("got abcd"))
    }

    @Test func severAfterATimeCutsAnIdleConnection() async throws {
        let echo = try await CountingEcho.start()
        let events = MemoryEventSink()
        let plan = try Self.plan("  - {name: unplug, fault: {kind: sever, mode: fin, after: 200ms}}\n")
        let start = ContinuousClock.now
        let ending = try await withProxy(upstreamPort: echo.port, events: events, faults: plan) { _, port in
            try await Self.exchange(port: port, request: "")
        }
        await echo.stop(after: events)
        #expect(ending == .eof(""))
        #expect(ContinuousClock.now - start >= .milliseconds(150))
        let fault = try #require(events.events.first { $0.type == .fault })
        #expect(fault.action == "fin")
        #expect(fault.params?["after"] == "200ms")
    }

    /// A timed sever acts only if its window is open when its time comes: `early` falls
    /// outside its window and does nothing; `late` then cuts the connection.
    @Test func aTimedSeverOutsideItsWindowDoesNothing() async throws {
        let echo = try await CountingEcho.start()
        let events = MemoryEventSink()
        let plan = try Self.plan(
            """
              - {name: early, window: {from: connection, after: 1h}, fault: {kind: sever, mode: reset, after: 50ms}}
              - {name: late, fault: {kind: sever, mode: fin, after: 250ms}}
            """ + "\n"
        )
        let ending = try await withProxy(upstreamPort: echo.port, events: events, faults: plan) { _, port in
            try await Self.exchange(port: port, request: "")
        }
        await echo.stop(after: events)
        #expect(ending == .eof(""))
        #expect(events.events.filter { $0.type == .fault }.map(\.rule) == ["late"])
    }

    @Test func blackholeSendsNothingAndKeepsTheConnectionOpen() async throws {
        // The server greets, then echoes: the greeting proves the connection is bridged
        // before anything goes into the void.
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "hi"))
                for try await chunk in inbound {
                    try await outbound.write(chunk)
                }
            }
        }
        let events = AwaitableEventSink()
        let plan = try Self.plan("  - {name: void, match: {direction: upstream}, fault: {kind: blackhole}}\n")
        try await withProxy(upstreamPort: server.port, events: events, faults: plan) { _, port in
            let client = try await TestClient.connect(port: port)
            try await client.executeThenClose { inbound, outbound in
                let (written, signal) = AsyncStream<Void>.makeStream()
                let outcome = try await Self.firstOrSilence(
                    window: .milliseconds(500),
                    // The window starts once the bytes are on their way.
                    startingAfter: { for await _ in written { break } },
                    [{
                        var iterator = inbound.makeAsyncIterator()
                        let greeting = try await TestClient.read(atLeast: 2, from: &iterator)
                        guard String(buffer: greeting) == "hi" else { return "bad greeting" }
                        try await outbound.write(ByteBuffer(string: "into the void"))
                        signal.yield()
                        return try await iterator.next() == nil ? "eof" : "data"
                    }]
                )
                #expect(outcome == "silence")
                #expect(client.channel.isActive)
                // The proxy read the bytes (the rule fired on them) before the client
                // closes: on a busy machine the silence can end before that, and closing
                // then leaves them unread.
                _ = try await withTimeout(.seconds(20)) { try await events.first { $0.type == .fault && $0.rule == "void" } }
            }
        }
        await server.stop()
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.droppedUpstream == 13)
        #expect(close.bytesFromClient == 13)
        #expect(close.bytesToUpstream == 0)
        #expect(close.bytesToClient == 2)
        Self.expectTruthfulAccounting(events.events)
    }

    /// A blackhole on both directions is a partition: the server's greeting never reaches
    /// the client, the client's bytes never reach the server, and both stay connected.
    @Test func blackholeBothWaysIsAPartition() async throws {
        let (serverHeard, heard) = AsyncStream<String>.makeStream()
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "hi"))
                for try await chunk in inbound {
                    heard.yield(String(buffer: chunk))
                }
                heard.yield("eof")
            }
        }
        let events = AwaitableEventSink()
        let plan = try Self.plan("  - {name: cut-off, fault: {kind: blackhole}}\n")
        try await withProxy(upstreamPort: server.port, events: events, faults: plan) { _, port in
            let client = try await TestClient.connect(port: port)
            try await client.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "ping"))
                // Both drops are logged once the bytes arrive; then a silence window.
                try await withTimeout(.seconds(10)) {
                    _ = try await events.first { $0.type == .fault && $0.direction == .upstream }
                    _ = try await events.first { $0.type == .fault && $0.direction == .downstream }
                }
                let outcome = try await Self.firstOrSilence(window: .milliseconds(500), [
                    {
                        for try await chunk in inbound { return "client got \(String(buffer: chunk))" }
                        return "client got eof"
                    },
                    {
                        for await text in serverHeard { return "server got \(text)" }
                        return "server stream ended"
                    },
                ])
                #expect(outcome == "silence")
                #expect(client.channel.isActive)
            }
        }
        await server.stop()
        let faults = events.events.filter { $0.type == .fault }
        #expect(Set(faults.compactMap(\.direction)) == [.upstream, .downstream])
        #expect(faults.allSatisfy { $0.action == "blackhole" })
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.droppedUpstream == 4)
        #expect(close.droppedDownstream == 2)
        #expect(close.bytesToUpstream == 0 && close.bytesToClient == 0)
        Self.expectTruthfulAccounting(events.events)
    }

    @Test func delayHoldsTheReply() async throws {
        let echo = try await CountingEcho.start()
        let plan = try Self.plan("  - {name: slow, match: {direction: downstream}, fault: {kind: delay, latency: 300ms}}\n")
        let start = ContinuousClock.now
        let events = MemoryEventSink()
        let ending = try await withProxy(upstreamPort: echo.port, events: events, faults: plan) { _, port in
            try await Self.exchange(port: port, request: "tick", finish: true)
        }
        let elapsed = ContinuousClock.now - start
        await echo.stop(after: events)
        #expect(ending == .eof("tick"))
        #expect(elapsed >= .milliseconds(280))
    }

    @Test func bandwidthLimitsTheRate() async throws {
        let echo = try await CountingEcho.start()
        let events = MemoryEventSink()
        let plan = try Self.plan("  - {name: narrow, match: {direction: downstream}, fault: {kind: bandwidth, bytes_per_second: 20000}}\n")
        let payload = String(repeating: "x", count: 10_000)
        let start = ContinuousClock.now
        let ending = try await withProxy(upstreamPort: echo.port, events: events, faults: plan) { _, port in
            try await Self.exchange(port: port, request: payload, finish: true)
        }
        let elapsed = ContinuousClock.now - start
        await echo.stop(after: events)
        #expect(ending == .eof(payload))
        // 10 kB at 20 kB/s: half a second at least (no upper bound: a loaded machine
        // took 10 s once; the suite's time limit guards against a hang).
        #expect(elapsed >= .milliseconds(400))
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.bytesFromUpstream == 10_000)
        #expect(close.bytesToClient == 10_000)
        #expect(close.droppedDownstream == 0)
        Self.expectTruthfulAccounting(events)
    }

    @Test func sliceDeliversEveryByteInSmallPieces() async throws {
        let echo = try await CountingEcho.start()
        let plan = try Self.plan("  - {name: drip, match: {direction: downstream}, fault: {kind: slice, size: 3, gap: 5ms}}\n")
        let events = MemoryEventSink()
        let ending = try await withProxy(upstreamPort: echo.port, events: events, faults: plan) { _, port in
            try await Self.exchange(port: port, request: "abcdefghijklmnop", finish: true)
        }
        await echo.stop(after: events)
        #expect(ending == .eof("abcdefghijklmnop"))
    }

    @Test func refuseResetResetsBeforeTheUpstreamIsDialled() async throws {
        let (accepted, continuation) = AsyncStream<Void>.makeStream()
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { (_, _) async throws -> Void in
                continuation.yield()
            }
        }
        let events = MemoryEventSink()
        let plan = try Self.plan("  - {name: nope, match: {connections: {first: 1}}, fault: {kind: refuse, mode: reset}}\n")
        let (first, second) = try await withProxy(upstreamPort: server.port, events: events, faults: plan) { _, port in
            (try await Self.exchange(port: port, request: ""), try await Self.exchange(port: port, request: "", finish: true))
        }
        var iterator = accepted.makeAsyncIterator()
        await iterator.next()
        await server.stop()
        #expect(first == .reset(""))
        #expect(second == .eof(""))
        let faults = events.events.filter { $0.type == .fault }
        #expect(faults.map(\.conn) == [0])
        #expect(faults.first?.action == "reset")
        #expect(events.events.filter { $0.type == .connectionOpen }.map(\.conn) == [1])
    }

    @Test func refuseCloseIsAnImmediateEOF() async throws {
        let echo = try await CountingEcho.start()
        let plan = try Self.plan("  - {name: nope, fault: {kind: refuse, mode: close}}\n")
        let events = MemoryEventSink()
        let ending = try await withProxy(upstreamPort: echo.port, events: events, faults: plan) { _, port in
            try await Self.exchange(port: port, request: "")
        }
        await echo.stop(after: events)
        #expect(ending == .eof(""))
        // An upstream closing at once would look the same to the client: the fault event,
        // and no connection dialled upstream, tell refuse apart.
        #expect(events.events.filter { $0.type == .fault }.map(\.action) == ["close"])
        #expect(events.events.filter { $0.type == .connectionOpen }.isEmpty)
    }

    @Test func refuseIgnoreAcceptsButNeverServes() async throws {
        let echo = try await CountingEcho.start()
        let events = AwaitableEventSink()
        let plan = try Self.plan("  - {name: deaf, fault: {kind: refuse, mode: ignore}}\n")
        try await withProxy(upstreamPort: echo.port, events: events, faults: plan) { _, port in
            let client = try await TestClient.connect(port: port)
            let clientPort = try #require(client.channel.localAddress?.port)
            try await client.executeThenClose { inbound, _ in
                // Written to the client's socket when this returns, so on loopback in the
                // proxy's socket too (the writer's `write` only queues it).
                try await client.channel.writeAndFlush(ByteBuffer(string: "hello?"))
                // The kernel finished the handshake; the silence counts once the proxy
                // has accepted the connection and turned it away.
                let fault = try await withTimeout(.seconds(10)) {
                    try await events.first { $0.type == .fault }
                }
                #expect(fault.action == "ignore")
                await #expect(throws: TimedOut.self) {
                    _ = try await withTimeout(.milliseconds(300)) {
                        for try await _ in inbound { return "data" }
                        return "eof"
                    }
                }
                #expect(client.channel.isActive)
                // Never read: what the client sent is still in the proxy's socket.
                let accepted = try #require(OwnSockets.one(local: port, peer: clientPort))
                #expect(OwnSockets.unread(accepted.fd) == "hello?".utf8.count)
            }
        }
        await echo.server.stop()
        #expect(events.events.filter { $0.type == .fault }.map(\.action) == ["ignore"])
        #expect(events.events.filter { $0.type == .connectionOpen }.isEmpty)
    }

    @Test func hangHoldsThenClosesAfterItsTime() async throws {
        let echo = try await CountingEcho.start()
        let plan = try Self.plan("  - {name: stuck, match: {direction: upstream}, fault: {kind: hang, close_after: 300ms, close: reset}}\n")
        let start = ContinuousClock.now
        let events = MemoryEventSink()
        let ending = try await withProxy(upstreamPort: echo.port, events: events, faults: plan) { _, port in
            try await Self.exchange(port: port, request: "anyone there?")
        }
        await echo.stop(after: events)
        #expect(ending == .reset(""))
        #expect(ContinuousClock.now - start >= .milliseconds(250))
    }

    /// Same seed and the same traffic (sequential connections): the same fault events.
    @Test func sameSeedTwiceGivesTheSameFaultEvents() async throws {
        let rules = """
              - {name: refuse-some, probability: 0.3, fault: {kind: refuse, mode: reset}}
              - {name: cut-some, probability: 0.4, match: {direction: downstream}, fault: {kind: sever, mode: fin, after_bytes: {min: 1, max: 8}}}
            """ + "\n"
        func run(seed: UInt64) async throws -> [String] {
            let echo = try await CountingEcho.start()
            let events = MemoryEventSink()
            try await withProxy(upstreamPort: echo.port, events: events, faults: try Self.plan(rules, seed: seed)) { _, port in
                for _ in 0..<12 {
                    _ = try await Self.exchange(port: port, request: "0123456789", finish: true)
                }
            }
            await echo.stop(after: events)
            return events.events.filter { $0.type == .fault }.map {
                "\($0.conn ?? 99) \($0.rule ?? "") \($0.action ?? "") \(($0.params ?? [:]).sorted { $0.key < $1.key })"
            }
        }
        let first = try await run(seed: 1234)
        #expect(first.count >= 3)
        #expect(try await run(seed: 1234) == first)
    }

    @Test func proxyStartCarriesSeedAndProfile() async throws {
        let events = MemoryEventSink()
        let plan = try Self.plan("  - {name: slow, fault: {kind: delay, latency: 1ms}}\n", seed: 31337)
        try await withProxy(upstreamPort: 9, events: events, faults: plan) { _, _ in }
        let start = try #require(events.events.first { $0.type == .proxyStart })
        #expect(start.seed == 31337)
        #expect(start.profile == "sockets")
        #expect(start.profileHash == plan.profile.hash)
    }
}
