import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Counts, at the socket end of a channel, the bytes that reached the kernel and the
/// bytes a close discarded before they could.
///
/// A write is only a request: when a connection is cut (a `sever`, a reset, the peer
/// going away), NIO fails the writes it still holds, and a reset (SO_LINGER 0) makes the
/// kernel throw away what it has not sent yet. `conn_close` reports what this ledger saw,
/// so the log never claims bytes went out that did not; the discarded ones are counted
/// as dropped.
///
/// Bytes faultline writes in the server's place (`respond`) are not forwarded bytes:
/// they are kept apart (`injectedSent`), by their place in the stream, so `sent` and
/// `discarded` count only what was read from the other side.
///
/// At the head of a proxied channel it also makes `close(mode: .output)` wait for
/// earlier writes still on their way, as `FlushingHalfCloseHandler` does: one handler
/// rather than two, because every handler costs each idle connection a pipeline
/// context, twice.
///
/// Outbound only: swift-nio passes inbound events (every read) straight by a context
/// whose handler takes none, without calling it.
package final class WriteLedger: ChannelOutboundHandler {
    package typealias OutboundIn = ByteBuffer

    private(set) var sent = 0
    private(set) var discarded = 0
    /// Injected bytes that reached the kernel.
    private(set) var injectedSent = 0
    /// Stream offset of the next byte written through here, and of the end of the last
    /// write that succeeded (writes complete in order).
    private var position = 0
    private var succeededUpTo = 0
    /// Stream offset up to which writes completed, whether or not they succeeded: at
    /// `position`, swift-nio holds none of this side's bytes.
    private var settledUpTo = 0
    /// Where injected bytes are, or will be, in the stream.
    private var injected: [Range<Int>] = []

    /// The proxy's running total for this side, when it keeps one.
    private let total: ForwardedBytes.Count?

    package init(total: ForwardedBytes.Count? = nil) {
        self.total = total
    }

    /// Says that `count` injected bytes follow `ahead` bytes not yet written through
    /// here (held by a pacing stage), so their place in the stream is known.
    func expectInjected(_ count: Int, ahead: Int) {
        guard count > 0 else { return }
        let start = self.position + ahead
        self.injected.append(start..<(start + count))
    }

    /// How many bytes of `range` are injected ones.
    private func injectedBytes(in range: Range<Int>) -> Int {
        self.injected.reduce(0) { total, injected in total + max(0, min(range.upperBound, injected.upperBound) - max(range.lowerBound, injected.lowerBound)) }
    }

    /// How long a reset waits for the kernel to send what it holds, polled every
    /// millisecond: long enough for a busy machine, short enough not to blur the fault.
    static let settleAttempts = 50

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let count = WriteLedger.unwrapOutboundIn(data).readableBytes
        guard count > 0 else {
            context.write(data, promise: promise)
            return
        }
        let range = self.position..<(self.position + count)
        self.position += count
        let injected = self.injected.isEmpty ? 0 : self.injectedBytes(in: range)
        let promise = promise ?? context.eventLoop.makePromise()
        promise.futureResult.assumeIsolated().whenComplete { result in
            self.settledUpTo = range.upperBound
            switch result {
            case .success:
                self.sent += count - injected
                self.injectedSent += injected
                self.total?.add(count - injected)
                self.succeededUpTo = range.upperBound
            case .failure:
                self.discarded += count - injected
            }
        }
        context.write(data, promise: promise)
    }

    /// An output close waits for earlier writes (`FlushingHalfCloseHandler`), unless all
    /// of them have completed already, as they mostly have: the empty write it waits
    /// with costs about 5 % of a short connection's instructions. A channel still
    /// connecting always waits: swift-nio holds the empty write until it is connected,
    /// whereas a close passed on at once would shut down a socket not yet connected,
    /// fail, and end the dial (a client's FIN read while its upstream is dialled).
    package func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output, self.settledUpTo == self.position, context.channel.isActive {
            context.close(mode: mode, promise: promise)
            return
        }
        FlushingHalfCloseHandler.close(context: context, mode: mode, promise: promise)
    }

    package func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is WireTap.ResetRequested else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        self.settle(context: context, attempts: Self.settleAttempts, promise: promise)
    }

    /// Before a reset: waits (a little) until the kernel has sent everything, then counts
    /// what it still holds as discarded.
    private func settle(context: ChannelHandlerContext, attempts: Int, promise: EventLoopPromise<Void>?) {
        #if os(Linux)
        guard let provider = context.channel as? any SocketOptionProvider else {
            promise?.succeed()
            return
        }
        let info: EventLoopFuture<KernelTCPInfo> = provider.unsafeGetSocketOption(level: .tcp, name: .init(rawValue: TCP_INFO))
        info.assumeIsolated().whenComplete { result in
            let notSent = (try? result.get())?.notSentBytes ?? 0
            if notSent > 0, attempts > 0 {
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(1)) {
                    self.settle(context: context, attempts: attempts - 1, promise: promise)
                }
                return
            }
            let unsent = min(notSent, self.sent + self.injectedSent)
            // The kernel holds the end of what succeeded; injected bytes there are lost
            // too, but were never forwarded.
            let injected = self.injected.isEmpty ? 0 : self.injectedBytes(in: (self.succeededUpTo - unsent)..<self.succeededUpTo)
            self.sent -= unsent - injected
            self.discarded += unsent - injected
            self.injectedSent -= injected
            promise?.succeed()
        }
        #else
        promise?.succeed()
        #endif
    }
}

@available(*, unavailable)
extension WriteLedger: Sendable {}

/// Linux's `struct tcp_info` as the kernel fills it (glibc's copy stops before
/// `tcpi_notsent_bytes`). Only the bytes are laid out; the one field read is at its
/// documented offset.
struct KernelTCPInfo: Sendable {
    private var storage: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                          UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                          UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    init() {}

    /// Bytes written to the socket that the kernel has not sent yet
    /// (`tcpi_notsent_bytes`, byte 144: 8 one-byte fields, 24 `u32`s, 4 `u64`s, 2 `u32`s).
    var notSentBytes: Int {
        withUnsafeBytes(of: self.storage) { Int($0.load(fromByteOffset: 144, as: UInt32.self)) }
    }
}
