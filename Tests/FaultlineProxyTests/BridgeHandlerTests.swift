import NIOCore
import NIOEmbedded
import Testing

@testable import FaultlineProxy

/// The bridge between a connection's two channels, on embedded channels.
struct BridgeHandlerTests {
    /// Keeps an output close pending, as a pacing stage does while it holds data: the
    /// server's side stays open (and reading) after the client left.
    final class HeldOutputClose: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var held: [EventLoopPromise<Void>?] = []

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            guard mode == .output else { return context.close(mode: mode, promise: promise) }
            self.held.append(promise)
        }
    }

    /// Bytes read on one side after the other side's channel is gone (the client left
    /// while the server was still sending, with traffic held by a delay: found by the
    /// soak) go nowhere; they must still be counted, as `conn_close`'s dropped.
    @Test func bytesForASideThatIsGoneAreCountedAsLost() throws {
        let (clientSide, upstreamSide) = BridgeHandler.matchedPair()
        let loop = EmbeddedEventLoop()
        let client = EmbeddedChannel(handler: clientSide, loop: loop)
        let upstream = EmbeddedChannel(handlers: [HeldOutputClose(), upstreamSide], loop: loop)
        try upstream.writeInbound(ByteBuffer(string: "to the client"))
        #expect(try client.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "to the client"))
        #expect(clientSide.bytesLost == 0)

        // The client's pipeline is torn down; the server's next bytes still arrive.
        _ = try client.finish(acceptAlreadyClosed: true)
        try upstream.writeInbound(ByteBuffer(string: "too late"))
        #expect(upstreamSide.bytesRead == 21)
        #expect(clientSide.bytesLost == 8)
        _ = try? upstream.finish(acceptAlreadyClosed: true)
    }
}
