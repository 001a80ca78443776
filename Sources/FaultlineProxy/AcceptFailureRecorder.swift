import FaultlineCore
import NIOCore

/// Records each connection the listener could not take (out of descriptors, EMFILE) as
/// an `accept_failed` event, so the log says what standard error says. It sits before
/// NIO's `AcceptBackoffHandler`, which then pauses accepting for a moment instead of
/// letting the listener spin; the connection waits in the backlog meanwhile.
final class AcceptFailureRecorder: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    private let proxy: String
    private let events: any EventSink

    init(proxy: String, events: any EventSink) {
        self.proxy = proxy
        self.events = events
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        var event = Event(.acceptFailed)
        event.proxy = self.proxy
        event.reason = "\(error)"
        event.mono = context.eventLoop.now.uptimeNanoseconds
        self.events.record(event)
        context.fireErrorCaught(error)
    }
}
