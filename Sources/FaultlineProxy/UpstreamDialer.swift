import FaultlineCore
import NIOCore
import NIOPosix

/// Dials the proxy's upstream for connections the proxy opens on its own (the copy of a
/// duplicated request), on a given event loop so the new channel shares the loop of the
/// connection it belongs to.
struct UpstreamDialer: Sendable {
    var upstream: HostPort
    var connectTimeout: TimeAmount

    /// Connects; `initializer` runs on `loop` before the channel becomes active.
    func connect(
        on loop: any EventLoop,
        initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<any Channel> {
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(self.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer(initializer)
        if let literal = try? SocketAddress(ipAddress: self.upstream.host, port: self.upstream.port) {
            return bootstrap.connect(to: literal)
        }
        return bootstrap.connect(host: self.upstream.host, port: self.upstream.port)
    }
}
