import FaultlineRecords
import NIOCore

/// Watches one channel of a proxied connection and tells its `TCPCaptureFlow` what
/// crossed the wire, for `--pcap`.
///
/// It sits at the capture-tap slot, just inside the socket (see `ConnectionPipeline`),
/// so it sees bytes exactly as the socket read them and as the proxy handed them to the
/// socket, before framing or faults. Endings are recorded where they happen: the peer's
/// FIN (`inputClosed`) or RST (a reset error), the proxy's half-close (`close(.output)`)
/// or reset (`resetAndClose`, announced by a `ResetRequested` event); a channel that just
/// goes inactive gets FINs for whichever sides have not sent one.
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

    func channelActive(context: ChannelHandlerContext) {
        self.startIfActive(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.startIfActive(context)
        self.flow?.data(from: self.peer, Self.unwrapInboundIn(data))
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // NIO completes a connect promise before it fires channelActive, so the bridge
        // may write to a dialled channel before this handler heard it is active.
        self.startIfActive(context)
        if let flow = self.flow {
            flow.data(from: self.local, Self.unwrapOutboundIn(data))
        } else if !self.started {
            self.early.append(Self.unwrapOutboundIn(data))
        }
        context.write(data, promise: promise)
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

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output {
            self.startIfActive(context)
            if let flow = self.flow {
                flow.fin(from: self.local)
            } else if !self.started {
                self.earlyFIN = true
            }
        }
        context.close(mode: mode, promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if event is ResetRequested {
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
