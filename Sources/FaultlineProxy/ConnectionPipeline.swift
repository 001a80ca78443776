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

    /// Handlers for the channel accepted from the client.
    func clientHandlers(bridge: BridgeHandler) -> [any ChannelHandler] {
        var handlers: [any ChannelHandler] = [FlushingHalfCloseHandler()]
        if let capture = self.capture { handlers.append(WireTap(capture: capture, role: .accepted)) }
        handlers.append(bridge)
        return handlers
    }

    /// Handlers for the channel dialled to the upstream.
    func upstreamHandlers(bridge: BridgeHandler) -> [any ChannelHandler] {
        var handlers: [any ChannelHandler] = [FlushingHalfCloseHandler()]
        if let capture = self.capture { handlers.append(WireTap(capture: capture, role: .dialled)) }
        handlers.append(bridge)
        return handlers
    }
}
