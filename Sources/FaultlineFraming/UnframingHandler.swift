import NIOCore

/// Turns framed units back into the `ByteBuffer`s the bridge writes: one write per
/// message, bytes untouched.
///
///     FramedMessage(bytes: "GET / …", info: …) ─▶ ByteBuffer "GET / …"
package final class UnframingHandler: ChannelInboundHandler {
    package typealias InboundIn = FramedMessage
    package typealias InboundOut = ByteBuffer

    private let onForward: ((FramedMessage) -> Void)?

    /// - Parameter onForward: called with each unit as it goes on to the bridge (HTTP
    ///   queues forwarded requests this way, so replies pair with what the server got).
    package init(onForward: ((FramedMessage) -> Void)? = nil) {
        self.onForward = onForward
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = UnframingHandler.unwrapInboundIn(data)
        self.onForward?(message)
        context.fireChannelRead(UnframingHandler.wrapInboundOut(message.bytes))
    }
}

@available(*, unavailable)
extension UnframingHandler: Sendable {}
