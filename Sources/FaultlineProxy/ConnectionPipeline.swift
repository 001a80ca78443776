import FaultlineCore
import FaultlineRecords
import NIOCore

/// The handlers each proxied connection's two channels get, listed from the socket
/// inwards. Features that see or change traffic (capture, framing, fault stages) add
/// their handler here, in this order:
///
///     socket ─▶ FlushingHalfClose ─▶ capture tap ─▶ framer ─▶ fault stage ─▶ Bridge
///
/// The bridge is always last: it hands what reaches it to the other channel.
struct ConnectionPipeline {
    /// The connection's ordinal within its proxy, from 0.
    let ordinal: UInt64
    /// Where `--pcap` packets go; nil captures nothing.
    var capture: PacketCapture? = nil
    /// The connection's fault state, when a profile could act on it (nil: no stages).
    var faults: FaultConnection? = nil

    /// Handlers for the channel accepted from the client.
    func clientHandlers(bridge: BridgeHandler) -> [any ChannelHandler] {
        self.head(role: .accepted) + self.stages(reading: .upstream, writing: .downstream) + [bridge]
    }

    /// Handlers for the channel dialled to the upstream.
    func upstreamHandlers(bridge: BridgeHandler) -> [any ChannelHandler] {
        self.head(role: .dialled) + self.stages(reading: .downstream, writing: .upstream) + [bridge]
    }

    /// The flushing half-close and, with `--pcap`, the tap that sees the socket's bytes.
    private func head(role: WireTap.Role) -> [any ChannelHandler] {
        var handlers: [any ChannelHandler] = [FlushingHalfCloseHandler()]
        if let capture = self.capture { handlers.append(WireTap(capture: capture, role: role)) }
        return handlers
    }

    /// The fault stage for the direction read on this channel and the pacing stage for
    /// the direction written to it.
    private func stages(reading: Event.Direction, writing: Event.Direction) -> [any ChannelHandler] {
        guard let faults = self.faults else { return [] }
        return [faults.pacer(for: writing), faults.stage(for: reading)]
    }
}
