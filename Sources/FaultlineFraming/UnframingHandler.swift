import NIOCore

/// Turns framed units back into the `ByteBuffer`s the bridge writes: one write per
/// message, bytes untouched.
///
///     FramedMessage(bytes: "GET / …", info: …) ─▶ ByteBuffer "GET / …"
public final class UnframingHandler: ChannelInboundHandler {
    public typealias InboundIn = FramedMessage
    public typealias InboundOut = ByteBuffer

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(Self.wrapInboundOut(Self.unwrapInboundIn(data).bytes))
    }
}

@available(*, unavailable)
extension UnframingHandler: Sendable {}
