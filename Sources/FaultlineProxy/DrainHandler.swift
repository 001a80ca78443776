import NIOCore

/// Reads and discards whatever a turned-away client still sends, and closes once it has
/// finished: a socket closed with unread bytes sends RST, and `refuse: close` promises
/// the client a plain end of stream. A client that never finishes is closed after
/// `limit` (by then a reset is the truth of it).
final class DrainHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let limit: TimeAmount

    init(limit: TimeAmount) {
        self.limit = limit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Issued from here, reads skip the handlers after this one (the bridge would
        // hold them back for an upstream that never comes).
        context.read()
        let channel = context.channel
        context.eventLoop.assumeIsolated().scheduleTask(in: self.limit) {
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func channelReadComplete(context: ChannelHandlerContext) {
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension DrainHandler: Sendable {}
