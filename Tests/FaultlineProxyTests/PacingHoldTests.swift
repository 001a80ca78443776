import FaultlineCore
import FaultlineTestSupport
import NIOCore
import NIOPosix
import Testing

@testable import FaultlineProxy

/// `slow-drip` in front of a source that sends far more than can drip out: the pacing
/// stage must stop the source's reads once what it holds (memory, not just bytes to
/// send) passes the bound, as the proxy's own pipeline wires it, on real sockets.
///
///     source server ═▶ [watcher ─ FaultStage(down) ─ forwarder] ══▶ [PacingStage(down)] ═▶ sink server
///                      (the upstream's channel)                     (the client's channel)
@Suite(.timeLimit(.minutes(1)))
struct PacingHoldTests {
    /// At the socket end of the source channel: counts what was read, and reports the
    /// first read cycle after which no further read was asked for (NIO asks at once,
    /// after `channelReadComplete`, unless a stage withholds it), with what the stages
    /// held at that moment, taken on the loop (a snapshot taken later, from a task,
    /// would miss what dripped out meanwhile).
    final class PauseWatcher: ChannelDuplexHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        typealias OutboundIn = ByteBuffer

        private(set) var bytesRead = 0
        private var readAsked = false
        private let paused: EventLoopPromise<Held>
        private let snapshot: (Int) -> Held
        private var reported = false

        init(paused: EventLoopPromise<Held>, snapshot: @escaping (Int) -> Held) {
            self.paused = paused
            self.snapshot = snapshot
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.bytesRead += Self.unwrapInboundIn(data).readableBytes
            context.fireChannelRead(data)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            self.readAsked = false
            context.fireChannelReadComplete()
            context.eventLoop.assumeIsolated().execute {
                guard !self.readAsked, !self.reported else { return }
                self.reported = true
                self.paused.succeed(self.snapshot(self.bytesRead))
            }
        }

        func read(context: ChannelHandlerContext) {
            self.readAsked = true
            context.read()
        }
    }

    /// Stands in for the bridge: what the source channel passes on is written, in the
    /// same call, to the destination channel (same event loop).
    final class Forwarder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let destination: any Channel

        init(destination: any Channel) {
            self.destination = destination
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.destination.pipeline.syncOperations.write(data, promise: nil)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            self.destination.pipeline.syncOperations.flush()
        }
    }

    struct Held: Sendable {
        var bytesRead: Int
        var heldCost: Int
        var peakHeldCost: Int
        var heldEntries: Int
    }

    /// Runs the source through `profile`'s downstream rules until its reads pause; what
    /// the stages held then.
    static func holdUntilPaused(profile: String, sourceBytes: Int) async throws -> Held {
        let chunk = ByteBuffer(repeating: UInt8(ascii: "d"), count: 64 * 1024)
        let source = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                // Blocks once the proxy side stops reading; ends when the test closes.
                for _ in 0..<(sourceBytes / chunk.readableBytes) {
                    try await outbound.write(chunk)
                }
                for try await _ in inbound {}
            }
        }
        let sink = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, _ in
                for try await _ in inbound {}
            }
        }

        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let plan = FaultPlan(profile: try ProfileLoader().load(profile), seed: 1)
        // The client's channel, where the pacing stage holds what drips out.
        let destination = try await ClientBootstrap(group: loop).connect(host: "127.0.0.1", port: sink.port).get()
        let paused = loop.makePromise(of: Held.self)
        let wired = try await loop.submit {
            let connection = FaultConnection(
                plan: LivePlan(plan),
                ordinal: 0,
                client: destination,
                clientLedger: WriteLedger(),
                proxyName: "pacing-test",
                events: NullEventSink(),
                proxyStart: loop.now
            )
            let pacer = connection.pacer(for: .downstream)
            try destination.pipeline.syncOperations.addHandler(pacer)
            return NIOLoopBound((connection, pacer), eventLoop: loop)
        }.get()
        let upstream = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let stage = wired.value.0.stage(for: .downstream)
                    let pacer = wired.value.1
                    let watcher = PauseWatcher(paused: paused) { bytesRead in
                        Held(bytesRead: bytesRead, heldCost: pacer.heldCost, peakHeldCost: pacer.peakHeldCost, heldEntries: pacer.heldEntries)
                    }
                    try channel.pipeline.syncOperations.addHandlers([watcher, stage, Forwarder(destination: destination)])
                }
            }
            .connect(host: "127.0.0.1", port: source.port).get()

        let held = try await withTimeout(.seconds(30)) { try await paused.futureResult.get() }
        // A close waits behind what drips; the stage goes first, with what it holds.
        try await loop.submit { wired.value.1.discard() }.get()
        try? await upstream.close()
        try? await destination.close()
        await source.stop()
        await sink.stop()
        return held
    }

    /// One read cycle: NIO reads up to 4 times per cycle, 64 KiB at most each.
    static let readCycle = 4 * 64 * 1024

    @Test func slowDripStopsReadingOnceWhatItHoldsPassesTheBound() async throws {
        let held = try await Self.holdUntilPaused(profile: "slow-drip", sourceBytes: 8 << 20)
        // Reading stopped: at most one read cycle past the bound.
        #expect(held.bytesRead <= FaultStage.highWater + Self.readCycle, "\(held)")
        // Counted as what it really holds: at least the bytes still to drip (a few may
        // have left), at most the bound plus one read cycle's storage.
        #expect(held.heldCost >= held.bytesRead - 100, "\(held)")
        #expect(held.peakHeldCost <= FaultStage.highWater + 2 * Self.readCycle, "\(held)")
        // A write dripping byte by byte is one entry, not one per byte.
        #expect(held.heldEntries <= 64, "\(held)")
    }
}
