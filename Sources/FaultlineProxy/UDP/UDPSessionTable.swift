import FaultlineCore
import FaultlineRecords
import Logging
import NIOCore
import Synchronization

/// The listener socket's handler: finds (or opens) the session of each datagram's
/// sender and hands it the datagram.
///
/// One session per client address, so a reply read on that session's upstream socket
/// goes back to exactly that client. At the session cap, datagrams from new clients are
/// dropped: the first time, one warning says so; each such spell is bracketed by two
/// `session_limit` events (`refusing`, then `accepting` with the count dropped), so
/// the log accounts for every refused datagram. Loop-bound.
final class UDPSessionTable: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let configuration: UDPProxyConfiguration
    private let plan: LivePlan
    private let upstream: SocketAddress
    private let events: any EventSink
    /// Where new sessions' packets go; `setCapture` changes it while running.
    private var capture: PacketCapture?
    private let logger: Logger
    private let gauge: UDPSessionGauge
    private let forwarded: ForwardedBytes
    /// Numbers attempts across sessions when datagrams are logged (`recordDatagrams`).
    private let attempts: AttemptLedger?
    /// When the proxy started, for rules' windows and the schedule.
    private let startedAt = NIODeadline.now()

    private var listener: (any Channel)?
    private var toClients: CoalescingDatagramWriter?
    private var sessions: [SocketAddress: UDPSession] = [:]
    /// Sessions not yet closed, closing ones included.
    private var live = 0
    private var nextOrdinal: UInt64 = 0
    /// While at the cap: what was refused so far in this spell.
    private var refusal: (datagrams: Int, bytes: Int)?
    private var warnedAboutCap = false
    private var stopping = false
    private var drained: [EventLoopPromise<Void>] = []
    /// While a shutdown's grace runs: when it ends, what sessions still hold is discarded.
    private var graceTimer: Scheduled<Void>?
    /// Set by `endGrace` (a second signal): a shutdown under way discards at once, and
    /// one still to come gives no grace.
    private var graceEnded = false

    init(
        configuration: UDPProxyConfiguration,
        plan: LivePlan,
        upstream: SocketAddress,
        events: any EventSink,
        capture: PacketCapture?,
        logger: Logger,
        gauge: UDPSessionGauge,
        forwarded: ForwardedBytes
    ) {
        self.forwarded = forwarded
        self.configuration = configuration
        self.attempts = configuration.recordDatagrams ? AttemptLedger() : nil
        self.plan = plan
        self.upstream = upstream
        self.events = events
        self.capture = capture
        self.logger = logger
        self.gauge = gauge
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.listener = context.channel
        self.toClients = CoalescingDatagramWriter(channel: context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = UDPSessionTable.unwrapInboundIn(data)
        if let session = self.sessions[envelope.remoteAddress] {
            // While a shutdown's grace runs, a session not yet closing carries on, as
            // an open TCP connection does.
            session.fromClient(envelope.data)
            return
        }
        guard !self.stopping else { return }
        guard self.sessions.count < self.configuration.maxSessions else {
            self.refuse(envelope)
            return
        }
        let session = self.open(client: envelope.remoteAddress, listener: context.channel)
        session.fromClient(envelope.data)
    }

    /// Starts or stops capturing (nil) new sessions and the open ones.
    func setCapture(_ capture: PacketCapture?) {
        self.capture = capture
        for session in self.sessions.values { session.setCapture(capture) }
    }

    /// The proxy's plan changed: every open session follows it at once
    /// (`UDPSession.planChanged`).
    func planChanged() {
        for session in self.sessions.values { session.planChanged() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A datagram socket reports and keeps going; one bad datagram never stops it.
        self.logger.debug("listener socket error", metadata: ["error": "\(error)"])
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.closeAll(reason: "listener_closed", whenDone: nil)
        context.fireChannelInactive()
    }

    // MARK: Sessions

    private func open(client: SocketAddress, listener: any Channel) -> UDPSession {
        let toClients = self.toClients ?? CoalescingDatagramWriter(channel: listener)
        self.toClients = toClients
        let ordinal = self.nextOrdinal
        self.nextOrdinal += 1
        let session = UDPSession(
            ordinal: ordinal,
            client: client,
            shared: UDPSession.Shared(
                plan: self.plan,
                events: self.events,
                capture: self.capture,
                proxyName: self.configuration.name,
                proxyStart: self.startedAt,
                idleTimeout: .nanoseconds(self.configuration.idleTimeout.nanoseconds),
                upstream: self.upstream,
                logger: self.logger,
                listener: listener,
                toClients: toClients,
                attempts: self.configuration.recordDatagrams ? self.attempts : nil,
                forwarded: self.forwarded
            )
        )
        self.sessions[client] = session
        self.live += 1
        self.gauge.value.store(self.live, ordering: .relaxed)
        session.onClosing = { [unowned self] session in
            if self.sessions[session.client] === session {
                self.sessions[session.client] = nil
            }
            if self.sessions.count < self.configuration.maxSessions {
                self.endRefusal(reason: "a session closed")
            }
        }
        session.onClosed = { [unowned self] _ in
            self.live -= 1
            self.gauge.value.store(self.live, ordering: .relaxed)
            if self.live == 0 {
                self.graceTimer?.cancel()
                self.graceTimer = nil
            }
            if self.live == 0, !self.drained.isEmpty {
                // Called just before the session records `conn_close`: complete the
                // waiters after that, so `proxy_stop` always follows the last close.
                let waiters = self.drained
                self.drained = []
                listener.eventLoop.assumeIsolated().execute {
                    waiters.forEach { $0.succeed() }
                }
            }
        }
        session.start()
        return session
    }

    /// Stops opening sessions and closes every session, as the proxy's own doing: each
    /// closes once nothing is held in it, for up to `grace` (carrying on meanwhile, as
    /// an open TCP connection does during its grace); then the rest
    /// close at once, discarding what their faults still hold (counted as dropped, in
    /// `conn_close`), as TCP connections the proxy closes do. Completes `whenDone` once
    /// every session recorded `conn_close`.
    func shutdown(grace: TimeAmount, whenDone: EventLoopPromise<Void>) {
        self.stopping = true
        self.endRefusal(reason: "shutdown")
        if self.live == 0 { whenDone.succeed() } else { self.drained.append(whenDone) }
        guard grace > .zero, !self.graceEnded, let loop = self.listener?.eventLoop else {
            self.discardAll()
            return
        }
        for session in Array(self.sessions.values) {
            session.closeOnceIdle(reason: "shutdown")
        }
        if !self.sessions.isEmpty {
            self.graceTimer = loop.assumeIsolated().scheduleTask(in: grace) { self.discardAll() }
        }
    }

    /// Ends a shutdown's grace at once: what sessions still hold is discarded (counted as
    /// dropped in their `conn_close`), as when the grace runs out. Called before the
    /// shutdown (the two reach the loop in either order), it makes that grace none.
    func endGrace() {
        self.graceEnded = true
        if self.stopping { self.discardAll() }
    }

    private func discardAll() {
        self.graceTimer?.cancel()
        self.graceTimer = nil
        for session in Array(self.sessions.values) {
            session.close(reason: "shutdown", discarding: true)
        }
    }

    /// Closes every session (flushing what they hold); completes `whenDone` once all
    /// recorded `conn_close`.
    func closeAll(reason: String, whenDone: EventLoopPromise<Void>?) {
        self.stopping = true
        self.endRefusal(reason: "shutdown")
        if let whenDone {
            if self.live == 0 { whenDone.succeed() } else { self.drained.append(whenDone) }
        }
        for session in Array(self.sessions.values) {
            session.close(reason: reason)
        }
    }

    // MARK: The cap

    private func refuse(_ envelope: AddressedEnvelope<ByteBuffer>) {
        if self.refusal == nil {
            self.refusal = (0, 0)
            let cap = self.configuration.maxSessions
            let metadata: Logger.Metadata = ["max_sessions": "\(cap)", "client": "\(envelope.remoteAddress.hostPortText)"]
            if self.warnedAboutCap {
                self.logger.debug("udp session cap reached again, dropping datagrams from new clients", metadata: metadata)
            } else {
                self.warnedAboutCap = true
                self.logger.warning(
                    "udp session cap reached: datagrams from new clients are dropped until a session closes (raise --udp-max-sessions or lower --udp-idle-timeout)",
                    metadata: metadata
                )
            }
            var event = Event(.sessionLimit)
            event.proxy = self.configuration.name
            event.client = envelope.remoteAddress.hostPortText
            event.action = "refusing"
            event.count = cap
            event.reason = "session cap of \(cap) reached; datagrams from new clients are dropped"
            event.mono = self.listener?.eventLoop.now.uptimeNanoseconds
            self.events.record(event)
        }
        self.refusal?.datagrams += 1
        self.refusal?.bytes += envelope.data.readableBytes
    }

    private func endRefusal(reason: String) {
        guard let refusal = self.refusal else { return }
        self.refusal = nil
        var event = Event(.sessionLimit)
        event.proxy = self.configuration.name
        event.action = "accepting"
        event.count = refusal.datagrams
        event.bytes = refusal.bytes
        event.reason = reason
        event.mono = self.listener?.eventLoop.now.uptimeNanoseconds
        self.events.record(event)
        self.logger.debug(
            "udp session cap spell over",
            metadata: ["refused.datagrams": "\(refusal.datagrams)", "refused.bytes": "\(refusal.bytes)"]
        )
    }
}

@available(*, unavailable)
extension UDPSessionTable: Sendable {}

/// The number of live sessions, readable from any thread.
final class UDPSessionGauge: Sendable {
    let value = Atomic<Int>(0)
}
