import FaultlineCore
import FaultlineFraming
import FaultlineRecords
import NIOCore

/// The handlers each proxied connection's two channels get, listed from the socket
/// inwards. Features that see or change traffic (capture, framing, fault stages) add
/// their handler here, in this order:
///
///     socket ─▶ WriteLedger ─▶ FlushingHalfClose ─▶ capture tap ─▶ framer
///            ─▶ [message stage ─▶ unframer] ─▶ fault stage ─▶ Bridge
///
/// The bridge is always last: it hands what reaches it to the other channel. After the
/// framer (and its unframer) each read is one whole message, so fault stages act on
/// messages when `--framing` is set and on chunks otherwise.
struct ConnectionPipeline {
    /// The connection's ordinal within its proxy, from 0.
    let ordinal: UInt64
    /// Where `--pcap` packets go; nil captures nothing.
    var capture: PacketCapture? = nil
    /// The connection's fault state, when a profile could act on it (nil: no stages).
    var faults: FaultConnection? = nil
    /// Shared by the connection's two framers; nil without framing.
    let framing: FramingSession?
    /// What reached each socket, for `conn_close`.
    let clientLedger = WriteLedger()
    let upstreamLedger = WriteLedger()

    /// - Parameters:
    ///   - attempts: the proxy's attempt ledger, which numbers framed requests.
    ///   - client: the client's host, which scopes fingerprint grouping.
    init(
        ordinal: UInt64,
        proxy: String = "proxy",
        framing: FramingConfiguration = .raw,
        events: any EventSink = NullEventSink(),
        capture: PacketCapture? = nil,
        attempts: AttemptLedger? = nil,
        client: String? = nil
    ) {
        self.ordinal = ordinal
        self.capture = capture
        if framing.kind == .raw {
            self.framing = nil
        } else {
            let session = FramingSession(
                configuration: framing, proxy: proxy, connection: ordinal, events: events, attempts: attempts, client: client
            )
            session.exchange.deliveredToClient = { [clientLedger] in clientLedger.sent }
            self.framing = session
        }
    }

    /// Handlers for the channel accepted from the client.
    func clientHandlers(bridge: BridgeHandler) -> [any ChannelHandler] {
        self.head(role: .accepted, ledger: self.clientLedger) + self.framers(for: .upstream)
            + self.stages(reading: .upstream, writing: .downstream) + [bridge]
    }

    /// Handlers for the channel dialled to the upstream.
    func upstreamHandlers(bridge: BridgeHandler) -> [any ChannelHandler] {
        self.head(role: .dialled, ledger: self.upstreamLedger) + self.framers(for: .downstream)
            + self.stages(reading: .downstream, writing: .upstream) + [bridge]
    }

    /// The ledger, the flushing half-close and, with `--pcap`, the tap that sees the
    /// socket's bytes.
    private func head(role: WireTap.Role, ledger: WriteLedger) -> [any ChannelHandler] {
        var handlers: [any ChannelHandler] = [ledger, FlushingHalfCloseHandler()]
        if let capture = self.capture { handlers.append(WireTap(capture: capture, role: role)) }
        return handlers
    }

    /// The framer for bytes read in `direction`, and its unframer; with message rules,
    /// the message stage between the two.
    private func framers(for direction: Event.Direction) -> [any ChannelHandler] {
        guard let framing = self.framing else { return [] }
        guard let stage = self.faults?.messageStage(for: direction) else { return framing.handlers(for: direction) }
        return framing.handlers(for: direction, unframe: false) + [stage, framing.makeUnframer(for: direction)]
    }

    /// The fault stage for the direction read on this channel and the pacing stage for
    /// the direction written to it.
    private func stages(reading: Event.Direction, writing: Event.Direction) -> [any ChannelHandler] {
        guard let faults = self.faults else { return [] }
        return [faults.pacer(for: writing), faults.stage(for: reading)]
    }
}
