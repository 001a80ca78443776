import FaultlineRecords
import NIOCore

/// What `--pcap` records of one UDP session: both legs, each datagram where it really
/// travelled, with the endpoints worked out once per session rather than per datagram.
///
///     client ─────────▶ listener           as received, before any fault
///     upstream socket ─▶ upstream          as sent, after the faults
///     upstream ───────▶ upstream socket    as received, before any fault
///     listener ───────▶ client             as sent, after the faults
///
/// So a lost datagram shows on the first leg only, a duplicate twice on the second.
struct UDPCaptureLegs {
    private let capture: PacketCapture
    private let client: IPEndpoint
    private let listener: IPEndpoint
    private let upstream: IPEndpoint
    private var upstreamSocket: IPEndpoint?

    /// Nil when nothing is captured, or the addresses are not IP.
    init?(capture: PacketCapture?, client: SocketAddress, listener: SocketAddress?, upstream: SocketAddress) {
        guard let capture, let clientEnd = IPEndpoint(client), let upstreamEnd = IPEndpoint(upstream),
            let listenerEnd = Self.shown(listener, towards: client, fallback: nil)
        else { return nil }
        self.capture = capture
        self.client = clientEnd
        self.listener = listenerEnd
        self.upstream = upstreamEnd
    }

    /// Learns the session's upstream socket once it is bound.
    mutating func upstreamSocketBound(_ local: SocketAddress?, upstream: SocketAddress) {
        self.upstreamSocket = Self.shown(local, towards: upstream, fallback: self.listener)
    }

    func fromClient(_ payload: ByteBuffer) {
        self.capture.udpDatagram(from: self.client, to: self.listener, payload: payload)
    }

    func toUpstream(_ payload: ByteBuffer) {
        guard let socket = self.upstreamSocket else { return }
        self.capture.udpDatagram(from: socket, to: self.upstream, payload: payload)
    }

    func fromUpstream(_ payload: ByteBuffer) {
        guard let socket = self.upstreamSocket else { return }
        self.capture.udpDatagram(from: self.upstream, to: socket, payload: payload)
    }

    func toClient(_ payload: ByteBuffer) {
        self.capture.udpDatagram(from: self.listener, to: self.client, payload: payload)
    }

    /// `local` as packets towards `peer` show it. A socket bound to the wildcard address
    /// sends from the address the kernel routes by: loopback towards a loopback peer;
    /// otherwise `fallback` (the listener's address) is the best guess short of asking
    /// the kernel per datagram.
    static func shown(_ local: SocketAddress?, towards peer: SocketAddress, fallback: IPEndpoint?) -> IPEndpoint? {
        guard var end = IPEndpoint(local) else { return nil }
        guard end.address.allSatisfy({ $0 == 0 }) else { return end }
        if let peerEnd = IPEndpoint(peer), Self.isLoopback(peerEnd), peerEnd.isIPv6 == end.isIPv6 {
            end.address = peerEnd.address
        } else if let fallback, fallback.isIPv6 == end.isIPv6, !fallback.address.allSatisfy({ $0 == 0 }) {
            end.address = fallback.address
        }
        return end
    }

    private static func isLoopback(_ end: IPEndpoint) -> Bool {
        end.isIPv6 ? end.address == [UInt8](repeating: 0, count: 15) + [1] : end.address.first == 127
    }
}
