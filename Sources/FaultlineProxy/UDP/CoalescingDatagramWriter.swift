import NIOCore

/// Writes datagrams to one socket and flushes once per event loop tick.
///
/// Every datagram read in one wakeup is written first and flushed together after, so a
/// burst leaves in one `sendmmsg` instead of one `sendmsg` each; a datagram sent from a
/// timer (delay, gap, rate queue) waits at most until the end of that tick. Loop-bound.
final class CoalescingDatagramWriter {
    private let channel: any Channel
    private var flushScheduled = false

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Writes `envelope`; the future completes once the socket took it (or failed).
    /// Nil when the socket is closed or its send queue is over the high watermark:
    /// like a full router queue, the datagram is dropped rather than buffered.
    func write(_ envelope: AddressedEnvelope<ByteBuffer>) -> EventLoopFuture<Void>? {
        guard self.channel.isActive, self.channel.isWritable else { return nil }
        let written = self.channel.write(envelope)
        if !self.flushScheduled {
            self.flushScheduled = true
            self.channel.eventLoop.assumeIsolated().execute {
                self.flushScheduled = false
                self.channel.flush()
            }
        }
        return written
    }
}

@available(*, unavailable)
extension CoalescingDatagramWriter: Sendable {}
