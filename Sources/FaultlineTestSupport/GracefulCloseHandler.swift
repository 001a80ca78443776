import NIOCore

/// The test ends' close handler: an output close waits for earlier writes (as the
/// proxy's `FlushingHalfCloseHandler` does), and a full close that arrives meanwhile
/// waits for that too.
///
/// `NIOAsyncChannel.executeThenClose` closes the channel fully as soon as the body
/// returns, and `outbound.finish()` returns before the half-close has flushed. Without
/// this, a test peer that finished writing and then returned could discard its own last
/// writes under load, and a byte-exactness test would blame the proxy.
package final class GracefulCloseHandler: ChannelOutboundHandler {
    package typealias OutboundIn = NIOAny

    private var flushed: EventLoopFuture<Void>?

    package init() {}

    package func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .output:
            let flushed = context.writeAndFlush(NIOAny(ByteBuffer()))
            self.flushed = flushed
            flushed.assumeIsolated().whenComplete { _ in
                context.close(mode: .output, promise: promise)
            }
        case .all where self.flushed != nil:
            self.flushed?.assumeIsolated().whenComplete { _ in
                context.close(mode: .all, promise: promise)
            }
        default:
            context.close(mode: mode, promise: promise)
        }
    }
}

@available(*, unavailable)
extension GracefulCloseHandler: Sendable {}
