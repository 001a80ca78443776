import FaultlineCore
import FaultlineFraming
import FaultlineRecords
import Logging
import NIOCore
import NIOPosix

/// One client address's session: its own upstream socket, so the upstream's replies
/// find their way back to that client, and one fault stage per direction.
///
///     client ─▶ listener ─▶ [stage upstream]   ─▶ upstream socket ─▶ upstream
///     client ◀─ listener ◀─ [stage downstream] ◀─ upstream socket ◀─ upstream
///
/// Opened by the client's first datagram (which waits, with any that follow, until the
/// upstream socket is bound), closed after `idleTimeout` without a datagram either way
/// or at shutdown. Closing flushes what the stages still hold (at shutdown, discards
/// it, counted as dropped), waits for the last sends, closes the upstream socket and
/// only then records `conn_close`, so the counts it reports are final. Loop-bound:
/// everything runs on the listener's loop.
final class UDPSession {
    /// What every session of one proxy shares.
    struct Shared {
        /// The proxy's plan; each stage re-arms when its number moves.
        var plan: LivePlan
        var events: any EventSink
        /// Where `--pcap` packets of both legs go; nil captures nothing.
        var capture: PacketCapture?
        var proxyName: String
        /// When the proxy started: rules' windows `from: proxy` and the schedule count
        /// from it.
        var proxyStart: NIODeadline
        var idleTimeout: TimeAmount
        var upstream: SocketAddress
        var logger: Logger
        var listener: any Channel
        /// Writes to the listener socket, shared by every session.
        var toClients: CoalescingDatagramWriter
        /// The proxy's attempt ledger when every datagram is logged as a `message`
        /// (`recordDatagrams`); nil logs none.
        var attempts: AttemptLedger?
        /// The proxy's running byte totals.
        var forwarded: ForwardedBytes?
    }

    private enum State {
        /// The upstream socket is being bound; sends wait in `waitingForSocket`.
        case opening
        case open(any Channel)
        /// Flushing the stages, then closing the socket.
        case closing
        case closed
    }

    /// Datagrams that may wait for the upstream socket to be bound.
    private static let maximumWaiting = 1024

    let ordinal: UInt64
    let client: SocketAddress
    private let shared: Shared
    private let logger: Logger
    private var state = State.opening
    private var upstreamChannel: (any Channel)?
    private var upstreamWriter: CoalescingDatagramWriter?
    private var waitingForSocket: [(buffer: ByteBuffer, promise: EventLoopPromise<Void>)] = []
    private var lastActivity: NIODeadline
    /// When the session's first datagram arrived: windows `from: connection` count from it.
    private let openedAt: NIODeadline
    private var idleTimer: Scheduled<Void>?
    private var stagesDraining = 0
    private var closeReason = "closed"
    /// Set by `closeOnceIdle`: the session closes, for this reason, as soon as its
    /// stages hold nothing.
    private var closingOnceIdle: String?
    private var captureLegs: UDPCaptureLegs?

    /// Called when the session starts closing (the table forgets the address, so the
    /// client's next datagram opens a new session) and when it has closed.
    var onClosing: ((UDPSession) -> Void)?
    var onClosed: ((UDPSession) -> Void)?

    private lazy var toUpstream = self.stage(.upstream) { [weak self] buffer in self?.sendUpstream(buffer) }
    private lazy var toClient = self.stage(.downstream) { [weak self] buffer in self?.sendToClient(buffer) }

    /// Requests that went on to the upstream and wait for a reply, oldest first (units,
    /// first-byte times, attempts): a reply datagram answers the oldest. Bounded: a
    /// protocol that sends without replies must not grow it.
    private var awaitingReply: [(unit: UInt64, mono: UInt64, attempt: UInt64?)] = []
    private static let maximumAwaiting = 64

    /// The fault stage for one direction of this session.
    private func stage(_ direction: Event.Direction, send: @escaping DatagramFaultStage.Send) -> DatagramFaultStage {
        let stage = self.makeStage(direction, send: send)
        if self.shared.attempts != nil {
            stage.onArrival = { [weak self] unit, buffer, dropped in
                self?.recordDatagram(direction, unit: unit, buffer: buffer, dropped: dropped)
            }
        }
        return stage
    }

    /// Logs one datagram as a `message`: a request with its fingerprint and attempt, a
    /// reply with the request it answers (the oldest still waiting).
    private func recordDatagram(_ direction: Event.Direction, unit: UInt64, buffer: ByteBuffer, dropped: Bool) {
        let now = self.eventLoop.now.uptimeNanoseconds
        var event = Event(.message)
        event.proxy = self.shared.proxyName
        event.conn = self.ordinal
        event.direction = direction
        event.unit = unit
        event.bytes = buffer.readableBytes
        event.mono = now
        event.firstMono = now
        switch direction {
        case .upstream:
            let fingerprint = MessageFingerprint.of(buffer)
            let info = MessageInfo(role: .request, fingerprint: fingerprint)
            let attempt = self.shared.attempts?.attempt(of: info, client: self.client.ipAddress, at: .nanoseconds(Int64(clamping: now)))
            event.fingerprint = fingerprint
            event.attempt = attempt
            if !dropped {
                if self.awaitingReply.count >= Self.maximumAwaiting { self.awaitingReply.removeFirst() }
                self.awaitingReply.append((unit, now, attempt))
            }
        case .downstream:
            if !self.awaitingReply.isEmpty {
                let request = self.awaitingReply.removeFirst()
                event.requestUnit = request.unit
                event.requestMono = request.mono
                event.attempt = request.attempt
            }
        }
        self.shared.events.record(event)
    }

    private func makeStage(_ direction: Event.Direction, send: @escaping DatagramFaultStage.Send) -> DatagramFaultStage {
        DatagramFaultStage(
            plan: self.shared.plan,
            session: self.ordinal,
            client: self.client.hostPortText,
            direction: direction,
            eventLoop: self.eventLoop,
            proxyStart: self.shared.proxyStart,
            sessionOpen: self.openedAt,
            events: self.shared.events,
            proxyName: self.shared.proxyName,
            forwarded: direction == .upstream ? self.shared.forwarded?.upstream : self.shared.forwarded?.downstream,
            send: send
        )
    }

    private var eventLoop: any EventLoop {
        self.shared.listener.eventLoop
    }

    init(ordinal: UInt64, client: SocketAddress, shared: Shared) {
        self.ordinal = ordinal
        self.client = client
        self.shared = shared
        var logger = shared.logger
        logger[metadataKey: "conn.ordinal"] = "\(ordinal)"
        logger[metadataKey: "client"] = "\(client.hostPortText)"
        self.logger = logger
        self.lastActivity = shared.listener.eventLoop.now
        self.openedAt = self.lastActivity
        self.setCapture(shared.capture)
    }

    /// Starts or stops capturing this session's two legs (also while it runs).
    func setCapture(_ capture: PacketCapture?) {
        var legs = UDPCaptureLegs(
            capture: capture,
            client: self.client,
            listener: self.shared.listener.localAddress,
            upstream: self.shared.upstream
        )
        if let channel = self.upstreamChannel {
            legs?.upstreamSocketBound(channel.localAddress, upstream: self.shared.upstream)
        }
        self.captureLegs = legs
    }

    // MARK: Opening

    /// Records `conn_open`, binds the upstream socket and starts the idle clock.
    func start() {
        var event = Event(.connectionOpen)
        event.proxy = self.shared.proxyName
        event.conn = self.ordinal
        event.client = self.client.hostPortText
        event.upstream = self.shared.upstream.hostPortText
        event.mono = self.eventLoop.now.uptimeNanoseconds
        self.shared.events.record(event)
        self.logger.debug("udp session open")
        self.armIdleTimer(in: self.shared.idleTimeout)

        let loop = self.eventLoop
        let bootstrap = UDPProxy.bootstrap(on: loop)
            .channelInitializer { [session = NIOLoopBound(self, eventLoop: loop)] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UDPUpstreamHandler(session: session.value))
                }
            }
        let local: SocketAddress
        do {
            local = try SocketAddress(ipAddress: self.shared.upstream.protocol == .inet6 ? "::" : "0.0.0.0", port: 0)
        } catch {
            self.failOpening(error)
            return
        }
        bootstrap.bind(to: local).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                self.opened(channel)
            case .failure(let error):
                self.failOpening(error)
            }
        }
    }

    private func opened(_ channel: any Channel) {
        switch self.state {
        case .opening:
            self.state = .open(channel)
        case .closing:
            // Closing while the socket was bound: send what waited, then `stageDrained`
            // closes the socket once those sends completed.
            break
        case .open, .closed:
            channel.close(promise: nil)
            return
        }
        self.upstreamChannel = channel
        self.upstreamWriter = CoalescingDatagramWriter(channel: channel)
        self.captureLegs?.upstreamSocketBound(channel.localAddress, upstream: self.shared.upstream)
        let waiting = self.waitingForSocket
        self.waitingForSocket = []
        for (buffer, promise) in waiting {
            self.captureLegs?.toUpstream(buffer)
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: self.shared.upstream, data: buffer), promise: promise)
        }
    }

    private func failOpening(_ error: any Error) {
        let reason = ConnectFailure.describe(error)
        self.logger.warning("cannot open an upstream socket, dropping the session", metadata: ["error": "\(reason)"])
        var event = Event(.upstreamError)
        event.proxy = self.shared.proxyName
        event.conn = self.ordinal
        event.client = self.client.hostPortText
        event.upstream = self.shared.upstream.hostPortText
        event.reason = reason
        event.mono = self.eventLoop.now.uptimeNanoseconds
        self.shared.events.record(event)
        let waiting = self.waitingForSocket
        self.waitingForSocket = []
        waiting.forEach { $0.promise.fail(error) }
        self.close(reason: "upstream_error")
    }

    // MARK: Traffic

    /// A datagram the client sent.
    func fromClient(_ buffer: ByteBuffer) {
        self.lastActivity = self.eventLoop.now
        self.captureLegs?.fromClient(buffer)
        self.toUpstream.receive(buffer)
    }

    /// A datagram read on the upstream socket.
    func fromUpstream(_ envelope: AddressedEnvelope<ByteBuffer>) {
        guard case .open = self.state else { return }
        guard envelope.remoteAddress == self.shared.upstream else {
            self.logger.debug(
                "ignoring a datagram from someone other than the upstream",
                metadata: ["source": "\(envelope.remoteAddress.hostPortText)"]
            )
            return
        }
        self.lastActivity = self.eventLoop.now
        // Passed on as a copy of its own size: the writer holds each datagram until the
        // tick's flush, and NIO keeps one more 64 KiB receive buffer for this session's
        // socket, for the session's life, for every datagram held when it reads again
        // (about 1 MiB a session after a burst of 16 replies, 64 KiB with the copy).
        let datagram = envelope.data.compacted()
        self.captureLegs?.fromUpstream(datagram)
        self.toClient.receive(datagram)
    }

    func upstreamError(_ error: any Error) {
        self.logger.debug("upstream socket error", metadata: ["error": "\(error)"])
    }

    private func sendUpstream(_ buffer: ByteBuffer) -> EventLoopFuture<Void>? {
        switch self.state {
        case .opening:
            guard self.waitingForSocket.count < Self.maximumWaiting else { return nil }
            let promise = self.eventLoop.makePromise(of: Void.self)
            // A copy: the listener's receive buffer goes back to NIO at once.
            self.waitingForSocket.append((buffer.compacted(), promise))
            return promise.futureResult
        case .open, .closing:
            guard let writer = self.upstreamWriter else { return nil }
            self.captureLegs?.toUpstream(buffer)
            return writer.write(AddressedEnvelope(remoteAddress: self.shared.upstream, data: buffer))
        case .closed:
            return nil
        }
    }

    private func sendToClient(_ buffer: ByteBuffer) -> EventLoopFuture<Void>? {
        self.captureLegs?.toClient(buffer)
        return self.shared.toClients.write(AddressedEnvelope(remoteAddress: self.client, data: buffer))
    }

    /// The proxy's plan changed: both stages follow it now, letting go of what a rule
    /// it removed or changed holds (`DatagramFaultStage.planChanged`).
    func planChanged() {
        switch self.state {
        case .opening, .open: break
        case .closing, .closed: return
        }
        self.toUpstream.planChanged()
        self.toClient.planChanged()
    }

    // MARK: Idle

    private func armIdleTimer(in delay: TimeAmount) {
        self.idleTimer = self.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            self.idleCheck()
        }
    }

    /// Closes the session when nothing passed for `idleTimeout` and nothing is held;
    /// otherwise looks again when the timeout could next be reached.
    private func idleCheck() {
        self.idleTimer = nil
        guard case .open = self.state else {
            if case .opening = self.state { self.armIdleTimer(in: self.shared.idleTimeout) }
            return
        }
        let timeout = self.shared.idleTimeout
        let quiet = self.eventLoop.now - self.lastActivity
        if quiet >= timeout && self.toUpstream.waiting == 0 && self.toClient.waiting == 0 {
            self.close(reason: "idle_timeout")
        } else {
            self.armIdleTimer(in: max(timeout - quiet, .milliseconds(1)))
        }
    }

    // MARK: Closing

    /// Closes the session (`reason`) as soon as nothing is held, delayed, queued or
    /// being sent in either direction, letting what is held leave as its rules say:
    /// a shutdown's grace. Datagrams still pass both ways meanwhile.
    func closeOnceIdle(reason: String) {
        self.closingOnceIdle = reason
        self.closeIfIdle()
    }

    private func closeIfIdle() {
        guard let reason = self.closingOnceIdle else { return }
        switch self.state {
        case .opening, .open: break
        case .closing, .closed: return
        }
        if !self.toUpstream.isIdle {
            self.toUpstream.whenIdle { [weak self] in self?.closeIfIdle() }
        } else if !self.toClient.isIdle {
            self.toClient.whenIdle { [weak self] in self?.closeIfIdle() }
        } else {
            self.close(reason: reason)
        }
    }

    /// Starts closing: flushes both stages (with `discarding`, discards what they hold,
    /// counted as dropped: the proxy is closing the session itself), then closes the
    /// socket and records `conn_close`. Safe to call more than once.
    func close(reason: String, discarding: Bool = false) {
        switch self.state {
        case .closing, .closed:
            return
        case .opening, .open:
            break
        }
        self.state = .closing
        self.closeReason = reason
        self.idleTimer?.cancel()
        self.idleTimer = nil
        self.onClosing?(self)
        self.stagesDraining = 2
        if discarding {
            self.toUpstream.discard { [weak self] in self?.stageDrained() }
            self.toClient.discard { [weak self] in self?.stageDrained() }
        } else {
            self.toUpstream.flush { [weak self] in self?.stageDrained() }
            self.toClient.flush { [weak self] in self?.stageDrained() }
        }
    }

    private func stageDrained() {
        self.stagesDraining -= 1
        guard self.stagesDraining == 0 else { return }
        guard let channel = self.upstreamChannel else {
            self.finish()
            return
        }
        channel.close().assumeIsolated().whenComplete { _ in
            self.finish()
        }
    }

    private func finish() {
        self.state = .closed
        // The table counts the session gone before `conn_close` is out, so whoever
        // awaits that event sees the session count without it.
        self.onClosed?(self)
        let up = self.toUpstream.counters
        let down = self.toClient.counters
        var event = Event(.connectionClose)
        event.proxy = self.shared.proxyName
        event.conn = self.ordinal
        event.client = self.client.hostPortText
        event.upstream = self.shared.upstream.hostPortText
        event.bytesFromClient = up.bytesIn
        event.bytesToUpstream = up.bytesOut
        event.droppedUpstream = up.bytesDropped
        event.duplicatedUpstream = up.bytesDuplicated
        event.bytesFromUpstream = down.bytesIn
        event.bytesToClient = down.bytesOut
        event.droppedDownstream = down.bytesDropped
        event.duplicatedDownstream = down.bytesDuplicated
        event.unansweredUnit = self.awaitingReply.last?.unit
        event.datagramsFromClient = up.datagramsIn
        event.datagramsToUpstream = up.datagramsOut
        event.datagramsDroppedUpstream = up.datagramsDropped
        event.datagramsDuplicatedUpstream = up.datagramsDuplicated
        event.datagramsFromUpstream = down.datagramsIn
        event.datagramsToClient = down.datagramsOut
        event.datagramsDroppedDownstream = down.datagramsDropped
        event.datagramsDuplicatedDownstream = down.datagramsDuplicated
        event.reason = self.closeReason
        event.mono = self.eventLoop.now.uptimeNanoseconds
        self.shared.events.record(event)
        self.logger.debug("udp session closed", metadata: ["reason": "\(self.closeReason)"])
        self.onClosing = nil
        self.onClosed = nil
    }
}

@available(*, unavailable)
extension UDPSession: Sendable {}
