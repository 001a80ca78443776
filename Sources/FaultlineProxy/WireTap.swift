import FaultlineRecords
import NIOCore

/// Watches one channel of a proxied connection and tells its `TCPCaptureFlow` what
/// crossed the wire, for `--pcap`.
///
/// It sits at the capture-tap slot, just inside the socket (see `ConnectionPipeline`),
/// so it sees bytes exactly as the socket read them and, once each write succeeds, as
/// the socket took them, before framing or faults. Endings are recorded where they
/// happen: the peer's FIN (`inputClosed`) or RST (a reset error), the proxy's half-close
/// (`close(.output)`, once done) or reset (`resetAndClose`, announced by a
/// `ResetRequested` event); a channel that just goes inactive gets FINs for whichever
/// sides have not sent one.
///
/// One case remains where the capture shows more than the peer got: bytes the kernel
/// accepted but still held when a reset threw them away (the log counts them as
/// dropped; the capture cannot take back what it already queued).
///
/// Passive: every event is passed on unchanged.
final class WireTap: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Which end opened the connection this channel carries.
    enum Role {
        /// The peer connected to us (the client leg).
        case accepted
        /// We connected to the peer (the upstream leg).
        case dialled
    }

    /// Sent down the pipeline by `Channel.resetAndClose()` so the tap can record the RST
    /// the socket is about to send (and the `WriteLedger` can settle its count first).
    struct ResetRequested {}

    private let capture: PacketCapture
    private let role: Role
    private var flow: TCPCaptureFlow?

    init(capture: PacketCapture, role: Role) {
        self.capture = capture
        self.role = role
    }

    private var peer: TCPCaptureFlow.Side { self.role == .accepted ? .initiator : .responder }
    private var local: TCPCaptureFlow.Side { self.role == .accepted ? .responder : .initiator }

    private var started = false
    /// Writes issued while a dialled channel was still connecting: NIO holds them until
    /// the connection is up, and so does the tap, so they follow the handshake.
    private var early: [ByteBuffer] = []
    private var earlyFIN = false

    private func startIfActive(_ context: ChannelHandlerContext) {
        guard !self.started, context.channel.isActive,
            let local = IPEndpoint(context.channel.localAddress),
            let remote = IPEndpoint(context.channel.remoteAddress)
        else { return }
        self.started = true
        let flow: TCPCaptureFlow
        switch self.role {
        case .accepted: flow = self.capture.tcpFlow(initiator: remote, responder: local)
        case .dialled: flow = self.capture.tcpFlow(initiator: local, responder: remote)
        }
        self.flow = flow
        for buffer in self.early { flow.data(from: self.local, buffer) }
        self.early = []
        if self.earlyFIN { flow.fin(from: self.local) }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.startIfActive(context)
    }

    /// Taken out because the capture stopped: nothing more is recorded, not even writes
    /// that complete later (the capture may be closed by then).
    func handlerRemoved(context: ChannelHandlerContext) {
        self.started = true
        self.flow = nil
        self.early = []
    }

    func channelActive(context: ChannelHandlerContext) {
        self.startIfActive(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.startIfActive(context)
        self.flow?.data(from: self.peer, WireTap.unwrapInboundIn(data))
        context.fireChannelRead(data)
    }

    /// Writes are recorded once they reach the socket, not when they are made: a cut
    /// fails the writes NIO still holds, and the capture must not show bytes that never
    /// went out (the log's `bytes_to_*` count the same way, in `WriteLedger`).
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = WireTap.unwrapOutboundIn(data)
        guard buffer.readableBytes > 0 else {
            context.write(data, promise: promise)
            return
        }
        let promise = promise ?? context.eventLoop.makePromise()
        promise.futureResult.assumeIsolated().whenSuccess {
            self.recordLocal(context) { $0.data(from: self.local, buffer) } early: { $0.early.append(buffer) }
        }
        context.write(data, promise: promise)
    }

    /// Records something this side sent, or keeps it for after the handshake when the
    /// channel is not active yet. NIO completes a connect promise before it fires
    /// channelActive, so the bridge may write to a dialled channel before this handler
    /// heard it is active.
    private func recordLocal(
        _ context: ChannelHandlerContext,
        _ record: (TCPCaptureFlow) -> Void,
        early: (WireTap) -> Void
    ) {
        self.startIfActive(context)
        if let flow = self.flow {
            record(flow)
        } else if !self.started {
            early(self)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            self.flow?.fin(from: self.peer)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error.isConnectionReset {
            self.flow?.reset(from: self.peer)
        }
        context.fireErrorCaught(error)
    }

    /// The FIN is recorded when the half-close is done, after every earlier write.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .output else {
            context.close(mode: mode, promise: promise)
            return
        }
        let promise = promise ?? context.eventLoop.makePromise()
        promise.futureResult.assumeIsolated().whenSuccess {
            self.recordLocal(context) { $0.fin(from: self.local) } early: { $0.earlyFIN = true }
        }
        context.close(mode: mode, promise: promise)
    }

    /// The RST is recorded once the ledger has let the kernel send what it could, just
    /// before the socket is closed: writes that complete meanwhile come before it.
    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is ResetRequested else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        let promise = promise ?? context.eventLoop.makePromise()
        promise.futureResult.assumeIsolated().whenComplete { _ in
            self.flow?.reset(from: self.local)
        }
        context.triggerUserOutboundEvent(event, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.flow?.close(first: self.local)
        self.flow = nil
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension WireTap: Sendable {}
