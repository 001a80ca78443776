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
    /// Resolves a host name upstream (nil: the system's resolver); tests give their own.
    private let resolver: (any Resolver & Sendable)?

    init(upstream: HostPort, connectTimeout: TimeAmount, resolver: (any Resolver & Sendable)? = nil) {
        self.upstream = upstream
        self.connectTimeout = connectTimeout
        self.literal = try? SocketAddress(ipAddress: upstream.host, port: upstream.port)
        self.resolver = resolver
    }

    /// Connects; `initializer` adds the handlers on `loop`, once, to the channel that
    /// connected. `halfClosure` keeps the channel open after the upstream's FIN, as a
    /// proxied connection must so the client can go on sending.
    ///
    /// The initializer is synchronous: it runs in the same completed future as the
    /// channel's options, where a future of its own cost a connection a flatMap.
    func connect(
        on loop: any EventLoop,
        halfClosure: Bool = false,
        initializer: @escaping @Sendable (any Channel) throws -> Void
    ) -> EventLoopFuture<any Channel> {
        // TCP_NODELAY is ClientBootstrap's default; the rest is set in the initializer.
        let bootstrap = ClientBootstrap(group: loop).connectTimeout(self.connectTimeout)
        if let literal = self.literal {
            // One address, one attempt: the handlers go in before the channel is active.
            return bootstrap.channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ProxiedChannel.configure(channel, halfClosure: halfClosure)
                    try initializer(channel)
                }
            }.connect(to: literal)
        }
        // A host name may resolve to several addresses, and NIO's Happy Eyeballs runs a
        // bootstrap's initializer for every attempt. The handlers are made once per
        // connection: in an attempt that fails, its teardown would unhook them (the
        // bridge from its partner, a fault stage from its connection) before the next
        // attempt got them. So each attempt is only configured, reading nothing, and
        // the handlers go into the channel that connected; reads start after them.
        let resolving = self.resolver.map { bootstrap.resolver($0) } ?? bootstrap
        return resolving.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try ProxiedChannel.configure(channel, halfClosure: halfClosure, autoRead: false)
            }
        }.connect(host: self.upstream.host, port: self.upstream.port).flatMap { channel in
            channel.eventLoop.makeCompletedFuture {
                try initializer(channel)
                try channel.syncOptions?.setOption(.autoRead, value: true)
                return channel
            }.flatMapError { error in
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
    }
}

/// The options of proxied TCP channels, set synchronously as each channel is
/// initialised: a bootstrap's `channelOption`s are applied one by one through a chain
/// of futures, which cost about a tenth of a proxied connection's CPU.
enum ProxiedChannel {
    /// Reads per wake-up. NIO keeps a receive buffer for each read of a wake-up, for
    /// the channel's life; with one, `ReceiveBuffers` decides alone what is kept. A read
    /// that fills its buffer is followed by another wake-up at once (epoll reports a
    /// socket readable for as long as it is), and `ReceiveBuffers.largest` makes that
    /// one read as large as NIO's default four were.
    static let readsPerWakeUp: UInt = 1

    /// TCP_NODELAY is not among them: dialled channels get it from their bootstrap,
    /// accepted ones from their listener.
    ///
    /// - Parameters:
    ///   - halfClosure: the channel stays open after its peer's FIN.
    ///   - autoRead: false holds reads until the proxy turns them on.
    static func configure(_ channel: any Channel, halfClosure: Bool, autoRead: Bool = true) throws {
        // Every proxied channel is a NIO socket channel, which has them; skipping the
        // options silently would leave a client reading before its upstream exists.
        guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
        try options.setOption(.allowRemoteHalfClosure, value: halfClosure)
        try options.setOption(.recvAllocator, value: ReceiveBuffers())
        try options.setOption(.maxMessagesPerRead, value: Self.readsPerWakeUp)
        if !autoRead { try options.setOption(.autoRead, value: false) }
    }
}
