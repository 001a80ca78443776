import NIOCore

/// Turns framed units back into the `ByteBuffer`s the bridge writes: one write per
/// message, bytes untouched.
///
///     FramedMessage(bytes: "GET / …", info: …) ─▶ ByteBuffer "GET / …"
public final class UnframingHandler: ChannelInboundHandler {
    public typealias InboundIn = FramedMessage
    public typealias InboundOut = ByteBuffer

    private let onForward: ((FramedMessage) -> Void)?

    /// - Parameter onForward: called with each unit as it goes on to the bridge (HTTP
    ///   queues forwarded requests this way, so replies pair with what the server got).
    public init(onForward: ((FramedMessage) -> Void)? = nil) {
        self.onForward = onForward
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = Self.unwrapInboundIn(data)
        self.onForward?(message)
        context.fireChannelRead(Self.wrapInboundOut(message.bytes))
    }
}

@available(*, unavailable)
extension UnframingHandler: Sendable {}
