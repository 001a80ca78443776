import FaultlineCore
import NIOCore
import NIOPosix

/// Dials the proxy's upstream: for each proxied connection, and for connections the
/// proxy opens on its own (the copy of a duplicated request). The dial runs on a given
/// event loop so the new channel shares the loop of the connection it belongs to.
struct UpstreamDialer: Sendable {
    let upstream: HostPort
    let connectTimeout: TimeAmount
    /// The upstream as an address when it is written as one, parsed once, not per dial.
    private let literal: SocketAddress?

    init(upstream: HostPort, connectTimeout: TimeAmount) {
        self.upstream = upstream
        self.connectTimeout = connectTimeout
        self.literal = try? SocketAddress(ipAddress: upstream.host, port: upstream.port)
    }

    /// Connects; `initializer` runs on `loop` before the channel becomes active.
    /// `halfClosure` keeps the channel open after the upstream's FIN, as a proxied
    /// connection must so the client can go on sending.
    func connect(
        on loop: any EventLoop,
        halfClosure: Bool = false,
        initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<any Channel> {
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(self.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: halfClosure)
            .channelOption(.recvAllocator, value: ReceiveBuffers.allocator)
            .channelInitializer(initializer)
        if let literal = self.literal {
            return bootstrap.connect(to: literal)
        }
        return bootstrap.connect(host: self.upstream.host, port: self.upstream.port)
    }
}

/// How proxied TCP channels size their reads.
///
/// NIO keeps one receive buffer per channel for the channel's whole life, so the first
/// size is what every idle connection costs, twice (client and upstream side). NIO's
/// default of 2 KiB made those buffers almost half of an idle connection's memory.
/// Starting at 512 bytes costs bulk transfers nothing: the adaptive allocator grows the
/// buffer after each read that fills it, reaching 64 KiB within a few reads.
enum ReceiveBuffers {
    static let allocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65_536)
}
