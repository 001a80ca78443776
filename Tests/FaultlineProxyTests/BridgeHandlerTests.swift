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

extension BridgeHandlerTests {
    /// A host-name upstream gets its handlers once connected, and a client may have sent
    /// and half-closed by then (swift-nio reads a half-closed socket to its end whatever
    /// reads were asked for): what came before goes on, then the end, when the
    /// upstream's side joins its pipeline.
    @Test func whatThePartnerSentBeforeThisSideWasAddedGoesOnWhenItIs() throws {
        let (clientSide, upstreamSide) = BridgeHandler.matchedPair()
        let loop = EmbeddedEventLoop()
        let client = EmbeddedChannel(handler: clientSide, loop: loop)
        try client.writeInbound(ByteBuffer(string: "PING\r\n"))
        client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(upstreamSide.bytesLost == 0)

        let closes = HeldOutputClose()
        let upstream = EmbeddedChannel(handler: closes, loop: loop)
        try upstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try upstream.pipeline.syncOperations.addHandler(upstreamSide)
        #expect(try upstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "PING\r\n"))
        #expect(closes.held.count == 1, "the client's end went on after its bytes")
        #expect(upstreamSide.bytesLost == 0)
        _ = try? client.finish(acceptAlreadyClosed: true)
        _ = try? upstream.finish(acceptAlreadyClosed: true)
    }
}

extension BridgeHandlerTests {
    /// A client that gives up on a blackholed request ends its side, and the blackhole
    /// keeps that end from the server: the bridge still notes when the client ended
    /// and that it ended first, so `conn_close` says the client closed (at shutdown it
    /// said the proxy did, and the retry checker lost the client's timeout), while
    /// nothing travels to the server.
    @Test func anEndAFaultKeepsFromThePartnerIsStillTheFirstEnd() throws {
        let (clientSide, upstreamSide) = BridgeHandler.matchedPair()
        let loop = EmbeddedEventLoop()
        let closes = HeldOutputClose()
        let client = EmbeddedChannel(handler: clientSide, loop: loop)
        let upstream = EmbeddedChannel(handlers: [closes, upstreamSide], loop: loop)
        client.pipeline.fireUserInboundEventTriggered(BridgeHandler.EndedUnforwarded())
        #expect(clientSide.endedAt != nil)
        #expect(clientSide.endedFirst)
        #expect(upstreamSide.endedAt == nil)
        #expect(closes.held.isEmpty, "no FIN went to the server")
        _ = try? client.finish(acceptAlreadyClosed: true)
        _ = try? upstream.finish(acceptAlreadyClosed: true)
    }
}
