import NIOCore

/// Sits on a session's upstream socket and hands the upstream's replies to the session.
///
/// The socket is unconnected (so an ICMP "port unreachable" never closes it), which is
/// why the source is checked: datagrams from anyone but the upstream are ignored.
final class UDPUpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let session: UDPSession

    init(session: UDPSession) {
        self.session = session
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.session.fromUpstream(UDPUpstreamHandler.unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Datagram sockets report send and ICMP errors here and stay open.
        self.session.upstreamError(error)
    }
}

@available(*, unavailable)
extension UDPUpstreamHandler: Sendable {}
