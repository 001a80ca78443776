import NIOCore

/// Makes `close(mode: .output)` wait for every earlier write to reach the socket.
///
/// NIO escalates an output close to a full close when the input side has already seen
/// EOF, and a full close discards pending writes: the peer would lose the end of the
/// stream. Sitting at the head of the pipeline, this handler first writes an empty buffer
/// (which completes only after all earlier writes) and closes the output after that.
package final class FlushingHalfCloseHandler: ChannelOutboundHandler, Sendable {
    package typealias OutboundIn = NIOAny

    package init() {}

    package func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        Self.close(context: context, mode: mode, promise: promise)
    }

    /// The close itself, for a handler at the head that has other work too
    /// (`WriteLedger`, so a proxied channel has one handler context fewer).
    static func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .output else {
            context.close(mode: mode, promise: promise)
            return
        }
        context.writeAndFlush(NIOAny(ByteBuffer())).assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: promise)
        }
    }
}
