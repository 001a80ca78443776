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

    static func channel() throws -> (EmbeddedChannel, Recorder) {
        let recorder = Recorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([recorder, WriteLedger()])
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
}
