import NIOCore

/// Runs `action` once, when the channel becomes active, then leaves the pipeline.
///
/// An accepted channel's initializer runs before the channel is registered on its event
/// loop, possibly on another thread's schedule; work that needs a live channel (dialling
/// the upstream, reading the peer's address) must wait for `channelActive`.
final class OnActiveHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private var action: ((any Channel) -> Void)?

    init(_ action: @escaping (any Channel) -> Void) {
        self.action = action
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        if let action = self.action {
            self.action = nil
            action(context.channel)
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

@available(*, unavailable)
extension OnActiveHandler: Sendable {}
