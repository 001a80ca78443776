import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One end of the bridge that joins a client socket to its upstream socket.
///
/// Two handlers form a matched pair, one at the tail of each channel's pipeline; what one
/// reads, the other writes. Both channels live on one event loop, so the pair talks
/// without locks.
///
///     client ──read──▶ [Bridge A] ──write──▶ [Bridge B] ──▶ upstream socket
///     client ◀──────── [Bridge A] ◀──write── [Bridge B] ◀──read── upstream
///
/// It keeps three promises:
/// - bytes pass through unchanged and uncopied (the `ByteBuffer` read is the one written);
/// - backpressure: a side only reads while its partner's channel is writable, so a slow
///   reader never makes the proxy buffer beyond the write watermarks;
/// - endings travel: a FIN becomes a FIN (half-close, after pending writes are flushed),
///   a reset becomes a reset, an error or a close becomes a close.
final class BridgeHandler {
    /// How this side's channel ended, as far as the partner needs to know.
    enum Ending: Equatable {
        case open
        /// The peer sent FIN; we may still write to it.
        case inputClosed
        /// The peer reset the connection.
        case reset
        /// Any other failure.
        case failed
    }

    // Stored properties are laid out in the order declared: words first, then the
    // one-byte flags together, so a bridge fits a 128-byte allocation (two per
    // connection, idle ones included).
    private var partner: BridgeHandler?
    private var context: ChannelHandlerContext?
    /// What the partner sent before this side joined a pipeline (and `earlyEnd`, whether
    /// its end came too): a host-name upstream gets its handlers once connected, and
    /// swift-nio reads a half-closed client to its end whatever reads were asked for.
    /// Written on when this side is added; bounded by what the client's socket had
    /// buffered.
    private var early: [ByteBuffer] = []
    private var earlyBytes = 0
    /// Once this side will never join a pipeline (`neverJoined`: its upstream's dial
    /// failed or was given up), what to do the first time the partner has something
    /// for it.
    private var whenWrittenTo: (() -> Void)?
    private var outputClosed: EventLoopFuture<Void>?

    /// Run once when the channel becomes active, after every handler before this one
    /// saw it (the proxy dials the upstream here).
    var onActive: ((any Channel) -> Void)?

    /// Bytes read from this side's socket, for `conn_close` (what reached the other
    /// socket is counted by its `WriteLedger`).
    private(set) var bytesRead = 0
    /// Bytes the partner read for this side after this side's channel was gone (the
    /// client left while the server was still sending): dropped, never written.
    private(set) var bytesLost = 0
    /// When this side first ended (FIN, reset, error or close), and whether it ended
    /// before its partner (`endedFirst`): `conn_close` says which side closed first.
    private(set) var endedAt: NIODeadline?
    private(set) var ending: Ending = .open
    private(set) var endedFirst = false
    private var pendingRead = false
    private var earlyEnd = false
    private var wasAdded = false
    private var neverJoined = false
    private var outputClosing = false

    private init() {}

    /// A pair whose members forward to each other.
    static func matchedPair() -> (BridgeHandler, BridgeHandler) {
        let first = BridgeHandler()
        let second = BridgeHandler()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    // MARK: Called by the partner.

    private func partnerWrite(_ buffer: ByteBuffer) {
        guard let context = self.context else {
            if !self.wasAdded {
                self.early.append(buffer)
                self.earlyBytes += buffer.readableBytes
                return
            }
            // This side's channel is gone (its pipeline torn down) or never came: the
            // partner read these bytes, and they go nowhere. Counted, so `conn_close`
            // still balances.
            self.bytesLost += buffer.readableBytes
            self.writtenToWhileGone()
            return
        }
        context.write(NIOAny(buffer), promise: nil)
    }

    private func partnerFlush() {
        self.context?.flush()
    }

    /// Sends FIN once everything written so far has reached the socket (the `WriteLedger`
    /// at the pipeline's head sees to the waiting).
    private func partnerWriteEOF() {
        if self.context == nil, !self.wasAdded { self.earlyEnd = true }
        if self.context == nil, self.neverJoined { self.writtenToWhileGone() }
        guard let context = self.context, !self.outputClosing else { return }
        self.outputClosing = true
        // Only `partnerGone` waits for the FIN to be out, and only while this side's
        // input is open: a side whose peer already ended (the second FIN of most
        // connections) needs no promise, which costs about 1,800 instructions.
        guard self.ending == .open else {
            context.close(mode: .output, promise: nil)
            return
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        self.outputClosed = promise.futureResult
        context.close(mode: .output, promise: promise)
    }

    /// The partner's channel is closed while this side's input is still open: nothing
    /// can take what this peer sends any more. Close once the FIN is out, as the other
    /// end's kernel would (a socket closed with bytes unread answers with RST), rather
    /// than hold the connection half-open with its bytes unread for ever.
    private func partnerGone() {
        guard let context = self.context, self.ending == .open else { return }
        let channel = context.channel
        guard let outputClosed = self.outputClosed else {
            channel.close(promise: nil)
            return
        }
        outputClosed.whenComplete { _ in channel.close(promise: nil) }
    }

    private func partnerReset() {
        guard let context = self.context else { return }
        context.channel.resetAndClose()
    }

    private func partnerCloseFull() {
        self.context?.close(promise: nil)
    }

    private func partnerBecameWritable() {
        if self.pendingRead {
            self.pendingRead = false
            self.context?.read()
        }
    }

    /// Whether the partner may read for this side: while this side's channel is being
    /// dialled, up to `earlyLimit` bytes wait for it here; once it will never come, what
    /// is read is lost, and reading goes on (a `respond` rule may answer the client).
    private var isPartnerWritable: Bool {
        if let context = self.context { return context.channel.isWritable }
        if self.neverJoined { return true }
        return !self.wasAdded && self.earlyBytes < Self.earlyLimit
    }

    /// What a side still being dialled holds for its partner at most: NIO's default
    /// high write watermark, as a connecting channel's pending writes would.
    static let earlyLimit = 64 * 1024

    /// This side's channel will never carry anything: the upstream's dial failed or was
    /// given up. What the partner read for it is lost (`bytesLost`), now and from now
    /// on. `whenWrittenTo` runs once, the first time the partner has something for it
    /// (bytes or its end; at once if it already had): the proxy then closes the client,
    /// which has asked for what only the upstream could give.
    func neverJoins(whenWrittenTo action: (() -> Void)? = nil) {
        guard self.context == nil, !self.neverJoined else { return }
        let hadSomething = self.earlyBytes > 0 || self.earlyEnd
        self.bytesLost += self.earlyBytes
        self.early = []
        self.earlyBytes = 0
        self.earlyEnd = false
        self.wasAdded = true
        self.neverJoined = true
        self.whenWrittenTo = action
        if hadSomething { self.writtenToWhileGone() }
    }

    /// Reads again if a read waited for the partner (which will never come: see
    /// `neverJoins`).
    func readAgainIfWaiting() {
        self.partnerBecameWritable()
    }

    private func writtenToWhileGone() {
        guard let action = self.whenWrittenTo else { return }
        self.whenWrittenTo = nil
        action()
    }
}

extension BridgeHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.wasAdded = true
        if !self.early.isEmpty {
            for buffer in self.early { context.write(NIOAny(buffer), promise: nil) }
            self.early = []
            self.earlyBytes = 0
            context.flush()
        }
        if self.earlyEnd { self.partnerWriteEOF() }
        // The partner may have asked to read before this side existed.
        if context.channel.isWritable {
            self.partner?.partnerBecameWritable()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        if let action = self.onActive {
            self.onActive = nil
            action(context.channel)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // By the type's name, not `Self`: in a class `Self` is the dynamic type, and the
        // compiler then calls NIO's generic unwrap with its dynamic casts (about 300
        // instructions a call) instead of specialising it. Every handler here does so.
        let buffer = BridgeHandler.unwrapInboundIn(data)
        self.bytesRead += buffer.readableBytes
        self.partner?.partnerWrite(buffer)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.partner?.partnerFlush()
    }

    /// This side's peer ended its stream, but a fault keeps the end from the partner (a
    /// blackhole or a hang): only when it ended is noted, for `conn_close`.
    struct EndedUnforwarded {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is EndedUnforwarded {
            self.markEnded(context)
            return
        }
        if case .inputClosed = event as? ChannelEvent {
            self.markEnded(context)
            self.ending = .inputClosed
            self.partner?.partnerWriteEOF()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.markEnded(context)
        if self.ending == .open || self.ending == .inputClosed {
            self.ending = error.isConnectionReset ? .reset : .failed
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.markEnded(context)
        switch self.ending {
        case .reset:
            self.partner?.partnerReset()
        case .failed:
            self.partner?.partnerCloseFull()
        case .open, .inputClosed:
            // A graceful end (EOF after our own output close, or a local close): the
            // partner still gets everything already written, then FIN.
            self.partner?.partnerWriteEOF()
            self.partner?.partnerGone()
        }
        context.fireChannelInactive()
    }

    private func markEnded(_ context: ChannelHandlerContext) {
        guard self.endedAt == nil else { return }
        self.endedAt = context.eventLoop.now
        self.endedFirst = self.partner?.endedAt == nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let partner = self.partner, partner.isPartnerWritable {
            context.read()
        } else {
            self.pendingRead = true
        }
    }
}

@available(*, unavailable)
extension BridgeHandler: Sendable {}

extension Error {
    /// True for a peer's RST, however the platform reports it.
    var isConnectionReset: Bool {
        guard let error = self as? IOError else { return false }
        return error.errnoCode == ECONNRESET || error.errnoCode == EPIPE
    }
}

extension Channel {
    /// Closes with SO_LINGER 0 so the peer sees RST instead of FIN.
    package func resetAndClose() {
        // Tell a capture tap the RST is coming and let the ledger settle what the kernel
        // still holds (without them the event just fails at the head: harmless).
        self.pipeline.triggerUserOutboundEvent(WireTap.ResetRequested()).whenComplete { _ in
            guard let provider = self as? any SocketOptionProvider else {
                self.close(promise: nil)
                return
            }
            provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in
                self.close(promise: nil)
            }
        }
    }
}
