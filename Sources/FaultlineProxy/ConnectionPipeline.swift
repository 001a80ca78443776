import FaultlineCore
import FaultlineFraming
import NIOCore

/// The handlers each proxied connection's two channels get, listed from the socket
/// inwards. Features that see or change traffic (capture, framing, fault stages) add
/// their handler here, in this order:
///
///     socket ─▶ FlushingHalfClose ─▶ capture tap ─▶ framer ─▶ fault stage ─▶ Bridge
///
/// The bridge is always last: it hands what reaches it to the other channel.
///
/// With framing (`--framing` other than raw) the framer is a `FramingHandler`, which
/// passes on `FramedMessage`s (one per message), then an `UnframingHandler` that turns
/// them back into `ByteBuffer`s; a stage that acts on whole messages goes between the
/// two. Without framing nothing is added.
struct ConnectionPipeline {
    /// The connection's ordinal within its proxy, from 0.
    let ordinal: UInt64
    /// Shared by the connection's two framers; nil without framing.
    let framing: FramingSession?

    init(
        ordinal: UInt64,
        proxy: String = "proxy",
        framing: FramingConfiguration = .raw,
        events: any EventSink = NullEventSink()
    ) {
        self.ordinal = ordinal
        self.framing =
            framing.kind == .raw
            ? nil : FramingSession(configuration: framing, proxy: proxy, connection: ordinal, events: events)
    }

    /// Handlers for the channel accepted from the client.
    func clientHandlers(bridge: BridgeHandler) -> [any ChannelHandler] {
        [FlushingHalfCloseHandler()] + self.framers(for: .upstream) + [bridge]
    }

    /// Handlers for the channel dialled to the upstream.
    func upstreamHandlers(bridge: BridgeHandler) -> [any ChannelHandler] {
        [FlushingHalfCloseHandler()] + self.framers(for: .downstream) + [bridge]
    }

    /// The framer for bytes read in `direction`, and its unframer.
    private func framers(for direction: Event.Direction) -> [any ChannelHandler] {
        self.framing?.handlers(for: direction) ?? []
    }
}
