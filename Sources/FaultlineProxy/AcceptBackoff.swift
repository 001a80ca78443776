import FaultlineCore
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Out of descriptors (EMFILE and the like), the listener stops accepting for a moment
/// instead of spinning on the failing accept, and each connection it could not take is
/// an `accept_failed` event, so the log says what standard error says. The connection
/// waits in the backlog meanwhile.
///
/// The pause turns the listener's `autoRead` off, which takes it out of the event
/// loop's readable set at once. NIO's `AcceptBackoffHandler` holds back the listener's
/// next `read()` instead, but when the first accept of a wake-up fails no `read()`
/// comes: the listener stays readable (level-triggered) and the failing accept repeats
/// tens of thousands of times a second (docs/robustness.md).
final class AcceptBackoff: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private let proxy: String
    private let events: any EventSink
    private let pause: TimeAmount
    private var resume: Scheduled<Void>?

    init(proxy: String, events: any EventSink, pause: TimeAmount = .seconds(1)) {
        self.proxy = proxy
        self.events = events
        self.pause = pause
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        var event = Event(.acceptFailed)
        event.proxy = self.proxy
        event.reason = "\(error)"
        event.mono = context.eventLoop.now.uptimeNanoseconds
        self.events.record(event)
        if self.resume == nil, Self.isLackOfResources(error), let options = context.channel.syncOptions {
            try? options.setOption(.autoRead, value: false)
            self.resume = context.eventLoop.assumeIsolated().scheduleTask(in: self.pause) { [self] in
                self.resume = nil
                try? options.setOption(.autoRead, value: true)
            }
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.resume?.cancel()
        self.resume = nil
        context.fireChannelInactive()
    }

    /// The errors a moment's pause can cure: the process or the system is out of
    /// descriptors or memory. (A connection aborted before it was taken is not one.)
    static func isLackOfResources(_ error: any Error) -> Bool {
        guard let error = error as? IOError else { return false }
        return [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode)
    }
}
