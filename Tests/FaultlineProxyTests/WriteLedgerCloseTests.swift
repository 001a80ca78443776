import NIOCore
import NIOEmbedded
import Testing

@testable import FaultlineProxy

/// The write ledger passes an output close (a FIN) at once only when every earlier write
/// has completed; while one is still on its way it first writes an empty buffer and
/// closes after that, so a close swift-nio turns into a full one (its input already
/// ended) cannot discard the end of the stream.
@Suite(.timeLimit(.minutes(1)))
struct WriteLedgerCloseTests {
    /// Notes what reaches the socket end of the pipeline.
    final class Recorder: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var seen: [String] = []

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            self.seen.append("write \(Recorder.unwrapOutboundIn(data).readableBytes)")
            context.write(data, promise: promise)
        }

        func flush(context: ChannelHandlerContext) {
            self.seen.append("flush")
            context.flush()
        }

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            self.seen.append("close \(mode)")
            promise?.succeed()
        }
    }

    /// A channel with the ledger at its head, `connected` or still connecting (as an
    /// upstream is while it is dialled).
    static func channel(connected: Bool = true) throws -> (EmbeddedChannel, Recorder) {
        let recorder = Recorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([recorder, WriteLedger()])
        if connected {
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        }
        return (channel, recorder)
    }

    @Test func aCloseAfterEveryWriteCompletedGoesAtOnce() throws {
        let (channel, recorder) = try Self.channel()
        try channel.writeAndFlush(ByteBuffer(string: "hello")).wait()
        channel.close(mode: .output, promise: nil)
        #expect(recorder.seen == ["write 5", "flush", "close output"])
    }

    @Test func aCloseWaitsForAWriteStillOnItsWay() throws {
        let (channel, recorder) = try Self.channel()
        var written = false
        channel.write(ByteBuffer(string: "hello")).whenSuccess { written = true }
        channel.close(mode: .output, promise: nil)
        // The empty write and its flush come first; the FIN only once they completed.
        #expect(recorder.seen == ["write 5", "write 0", "flush", "close output"])
        #expect(written)
    }

    /// Nothing was written yet, but the channel is not connected: a shutdown now would
    /// fail and end the dial (swift-nio closes the channel), so the close waits behind
    /// the empty write, which swift-nio holds until the channel is connected.
    @Test func aCloseBeforeTheChannelIsConnectedWaits() throws {
        let (channel, recorder) = try Self.channel(connected: false)
        #expect(!channel.isActive)
        channel.close(mode: .output, promise: nil)
        #expect(recorder.seen.prefix(2) == ["write 0", "flush"])
    }
}
