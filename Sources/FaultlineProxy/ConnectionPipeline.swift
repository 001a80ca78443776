import FaultlineCore
import FaultlineFraming
import FaultlineRecords
import NIOCore

/// One proxied connection's handlers, listed from the socket inwards, and the fault
/// stages it gets when a plan can act on it. Features that see or change traffic
/// (capture, framing, fault stages) add their handler here, in this order:
///
///     socket ─▶ WriteLedger ─▶ capture tap ─▶ framer
///            ─▶ [message stage ─▶ unframer] ─▶ [pacer ─▶ fault stage] ─▶ Bridge
///
/// The bridge is always last: it hands what reaches it to the other channel. After the
/// framer each read is one whole message, so fault stages act on messages when
/// `--framing` is set and on chunks otherwise.
///
/// Stages in brackets are there only while the plan in force has a rule for this
/// connection: a connection no rule can touch pays nothing for them. Without a message
/// rule the framer hands each message on as its bytes; with one it hands on
/// `FramedMessage`s, which the unframer turns back into bytes. When a plan change first
/// gives the connection a rule, `installFaults` inserts the stages into the open
/// pipelines (before the bridge, or after the framer for message rules, switching the
/// framer to units), on the connection's loop.
final class ConnectionPipeline {
    /// The connection's ordinal within its proxy, from 0.
    let ordinal: UInt64
    /// Where `--pcap` packets go; nil captures nothing. A capture started or stopped
    /// while the connection is open puts its taps in or takes them out (`setCapture`).
    private(set) var capture: PacketCapture?
    /// The connection's fault state, once a plan could act on it (nil: no stages).
    private(set) var faults: FaultConnection?
    /// Shared by the connection's two framers; nil without framing.
    let framing: FramingSession?
    /// What reached each socket, for `conn_close`.
    let clientLedger: WriteLedger
    let upstreamLedger: WriteLedger
    let clientBridge: BridgeHandler
    let upstreamBridge: BridgeHandler
    /// The framing handlers of the client's and the upstream's channel (nil without
    /// framing) and the unframers that follow them once message stages are in.
    private let clientFramer: FramingHandler?
    private let upstreamFramer: FramingHandler?
    private let clientUnframer: UnframingHandler?
    private let upstreamUnframer: UnframingHandler?
    /// Strong, not weak: a weak reference costs each channel a side table, and nothing
    /// keeps this object past the connection's close (the registry lets go of it then).
    private(set) var client: (any Channel)?
    private(set) var upstream: (any Channel)?
    /// The proxy closed this connection while both its sides were open, at the end of
    /// a shutdown's grace period: `conn_close` then says the proxy ended it.
    private(set) var closedAtShutdown = false
    /// Where the upstream's dial stands (`TCPProxy.dialUpstream`).
    enum Dial: Equatable {
        case dialling
        case connected
        /// It failed then: the client is closed, or served by `respond` rules alone.
        case failed(NIODeadline)
        /// The client left first, and the dial was given up.
        case abandoned
    }

    var dial = Dial.dialling
    /// The connection's close waits for both: the client's channel closed, and the
    /// upstream's closed or never came. It is recorded once (`closeRecorded`).
    var clientClosed = false
    var upstreamSettled = false
    var closeRecorded = false
    /// Both sides are done and the close waits for copies of duplicated requests
    /// (`FaultConnection.whenCopiesSettled`).
    var awaitingCopies = false
    /// Whether the message stages are in (they need framing and a message rule).
    private var hasMessageStages = false
    private var isBridged = false

    /// - Parameters:
    ///   - attempts: the proxy's attempt ledger, which numbers framed requests.
    ///   - clientHost: the client's host, which scopes fingerprint grouping.
    init(
        ordinal: UInt64,
        proxy: String = "proxy",
        framing: FramingConfiguration = .raw,
        events: any EventSink = NullEventSink(),
        attempts: AttemptLedger? = nil,
        clientHost: String? = nil,
        forwarded: ForwardedBytes? = nil
    ) {
        self.ordinal = ordinal
        self.clientLedger = WriteLedger(total: forwarded?.downstream)
        self.upstreamLedger = WriteLedger(total: forwarded?.upstream)
        (self.clientBridge, self.upstreamBridge) = BridgeHandler.matchedPair()
        if framing.kind == .raw {
            self.framing = nil
            self.clientFramer = nil
            self.upstreamFramer = nil
            self.clientUnframer = nil
            self.upstreamUnframer = nil
        } else {
            let session = FramingSession(
                configuration: framing, proxy: proxy, connection: ordinal, events: events, attempts: attempts, client: clientHost
            )
            session.exchange.deliveredToClient = { [clientLedger] in clientLedger.sent }
            self.framing = session
            self.clientFramer = session.makeFramingHandler(for: .upstream, passesUnits: false)
            self.upstreamFramer = session.makeFramingHandler(for: .downstream, passesUnits: false)
            self.clientUnframer = session.makeUnframer(for: .upstream)
            self.upstreamUnframer = session.makeUnframer(for: .downstream)
        }
    }

    /// Handlers for the channel accepted from the client.
    func clientHandlers(_ client: any Channel) -> [any ChannelHandler] {
        self.client = client
        return self.handlers(role: .accepted, ledger: self.clientLedger, reading: .upstream, bridge: self.clientBridge)
    }

    /// Handlers for the channel dialled to the upstream.
    func upstreamHandlers(_ upstream: any Channel) -> [any ChannelHandler] {
        self.upstream = upstream
        return self.handlers(role: .dialled, ledger: self.upstreamLedger, reading: .downstream, bridge: self.upstreamBridge)
    }

    /// One channel's handlers in the order above, built in one array (joining arrays
    /// cost a new connection an allocation each).
    private func handlers(role: WireTap.Role, ledger: WriteLedger, reading: Event.Direction, bridge: BridgeHandler) -> [any ChannelHandler] {
        var handlers: [any ChannelHandler] = []
        handlers.reserveCapacity(7)
        handlers.append(ledger)
        if let capture = self.capture { handlers.append(WireTap(capture: capture, role: role)) }
        self.appendFramers(for: reading, to: &handlers)
        if let faults = self.faults {
            // The pacing stage for the direction written to this channel, the fault stage
            // for the one read from it.
            handlers.append(faults.pacer(for: reading == .upstream ? .downstream : .upstream))
            handlers.append(faults.stage(for: reading))
        }
        handlers.append(bridge)
        return handlers
    }

    /// Gives the connection its fault state. Before the client's handlers are added, the
    /// stages come with them; later (a plan change), they are inserted into the pipelines
    /// open now, and message stages join an existing state when the new plan first has
    /// message rules. Runs on the connection's loop.
    func installFaults(_ faults: FaultConnection, messages: (Exchange) -> MessageSupport) {
        let isNew = self.faults == nil
        self.faults = faults
        let wantsMessages = self.framing != nil && faults.faults.plan.hasMessageRules
        if wantsMessages, faults.messages == nil, let framing = self.framing { faults.messages = messages(framing.exchange) }
        guard let client = self.client else {
            self.hasMessageStages = wantsMessages
            return
        }
        // Already running: insert what is missing into each open pipeline.
        for (channel, reading, writing, bridge, framer, unframer) in [
            (client, Event.Direction.upstream, Event.Direction.downstream, self.clientBridge, self.clientFramer, self.clientUnframer),
            (self.upstream, .downstream, .upstream, self.upstreamBridge, self.upstreamFramer, self.upstreamUnframer),
        ] {
            // Its handlers are in once the channel is known (set as they are made);
            // a channel already closed refuses new handlers, which no longer matters.
            guard let channel else { continue }
            let handlers = channel.pipeline.syncOperations
            if isNew {
                try? handlers.addHandlers([faults.pacer(for: writing), faults.stage(for: reading)], position: .before(bridge))
            }
            if wantsMessages, !self.hasMessageStages, let framer, let unframer, let stage = faults.messageStage(for: reading),
                (try? handlers.addHandlers([stage, unframer], position: .after(framer))) != nil
            {
                framer.passesUnits = true
            }
        }
        if wantsMessages { self.hasMessageStages = true }
        if isNew, self.isBridged, let upstream = self.upstream { faults.bridged(client: client, upstream: upstream) }
    }

    /// Starts or stops capturing this connection (a capture started or stopped while it
    /// is open), on the connection's loop. A tap put into an open channel starts its
    /// flow with a handshake at that moment; one taken out records nothing more.
    func setCapture(_ capture: PacketCapture?) {
        guard capture !== self.capture else { return }
        self.capture = capture
        for (channel, role, ledger) in [
            (self.client, WireTap.Role.accepted, self.clientLedger), (self.upstream, .dialled, self.upstreamLedger),
        ] {
            guard let handlers = channel?.pipeline.syncOperations else { continue }
            if let tap = try? handlers.context(handlerType: WireTap.self) {
                try? handlers.removeHandler(context: tap)
            }
            if let capture {
                try? handlers.addHandler(WireTap(capture: capture, role: role), position: .after(ledger))
            }
        }
    }

    /// The proxy is about to close both sides at the end of a shutdown's grace period.
    /// Only a connection still open both ways counts as ended by the proxy: a side that
    /// had already ended, ended first.
    func markClosedAtShutdown() {
        if self.clientBridge.endedAt == nil, self.upstreamBridge.endedAt == nil { self.closedAtShutdown = true }
    }

    /// The proxy closes this connection itself (a shutdown's grace is over; the proxy
    /// was deleted or disabled): what its pacing stages hold is discarded, counted as
    /// dropped, so the close happens now rather than once the held data has left.
    func discardHeld() {
        self.faults?.discardHeld()
    }

    /// Shutdown's grace is over: copies of duplicated requests still to come or
    /// awaiting replies end now (each recorded), so the connection's close can follow
    /// and no copy reaches the server after the proxy stopped.
    func stopCopies(on loop: any EventLoop) {
        self.faults?.stopCopies(because: "the proxy was stopping", on: loop)
    }

    /// The upstream is connected: timed faults start counting.
    func bridged() {
        guard let client = self.client, let upstream = self.upstream else { return }
        self.isBridged = true
        self.faults?.bridged(client: client, upstream: upstream)
    }

    /// The upstream's dial failed: what the client sent for it is lost, and cuts decided
    /// meanwhile reach the client. Returns whether the client can still be served (a
    /// `respond` rule answers in the server's place, and the client has not ended its
    /// stream): it is then closed only once it sends something the upstream would have
    /// had to take, or its end (`closeClient`).
    func dialFailed(at time: NIODeadline, closeClient: @escaping () -> Void) -> Bool {
        self.dial = .failed(time)
        self.faults?.dialFailed()
        // A client that already ended its stream has nothing more to be answered.
        let serves = self.clientBridge.endedAt == nil && (self.faults?.answersWithoutUpstream() ?? false)
        self.upstreamBridge.neverJoins(whenWrittenTo: serves ? closeClient : nil)
        if serves { self.clientBridge.readAgainIfWaiting() }
        return serves
    }

    /// The dial was given up (the client left first): what the client sent for the
    /// upstream is lost.
    func dialAbandoned() {
        self.dial = .abandoned
        self.upstreamBridge.neverJoins()
    }

    /// The framer for bytes read in `direction`; with message rules, the message stage
    /// and the unframer after it, the framer then switched to handing on units.
    private func appendFramers(for direction: Event.Direction, to handlers: inout [any ChannelHandler]) {
        let (framer, unframer) = direction == .upstream ? (self.clientFramer, self.clientUnframer) : (self.upstreamFramer, self.upstreamUnframer)
        guard let framer, let unframer else { return }
        handlers.append(framer)
        guard self.hasMessageStages, let stage = self.faults?.messageStage(for: direction) else { return }
        framer.passesUnits = true
        handlers.append(stage)
        handlers.append(unframer)
    }
}

@available(*, unavailable)
extension ConnectionPipeline: Sendable {}
