import FaultlineCore
import FaultlineRecords
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A UDP listener that gives each client address its own upstream socket and applies
/// datagram faults in both directions.
///
/// Every socket of one proxy lives on one event loop, so sessions, stages and the
/// session table share a thread and need no locks. Which faults happen depends only on
/// the seed, the ordinals and the plan in force (`LivePlan`, which `apply` changes);
/// when they happen, only on that loop's clock. One failing session never stops the
/// listener.
package final class UDPProxy: Sendable {
    /// The largest UDP payload (IPv4: 65,535 − 8 − 20 = 65,507; a little headroom).
    static let maximumDatagram = 65_536

    /// A bootstrap for any of the proxy's UDP sockets, the listener's and each
    /// session's (replies come in bursts too).
    /// - The receive buffer has room for a burst of about 60 of the largest datagrams
    ///   while the event loop is busy (the kernel caps it at `net.core.rmem_max`; its
    ///   default, about 208 KiB, holds three).
    /// - Writes may hold 2 MiB before datagrams are dropped, as a full router queue
    ///   drops them. They wait only until the end of the loop's tick, when they leave
    ///   together; swift-nio's default of 64 KiB dropped most of a burst of large
    ///   datagrams that the socket would have taken at once.
    static func bootstrap(on loop: any EventLoop) -> DatagramBootstrap {
        DatagramBootstrap(group: loop)
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
            .channelOption(.writeBufferWaterMark, value: WriteBufferWaterMark(low: 1 << 20, high: 2 << 20))
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.maximumDatagram))
            .channelOption(.maxMessagesPerRead, value: 16)
    }

    package let configuration: UDPProxyConfiguration
    /// The plan in force, which `apply` changes while the proxy runs.
    package let plan: LivePlan
    private let group: any EventLoopGroup
    private let events: any EventSink
    /// Where packets go; `setCapture` changes it while running.
    private let capture: Mutex<PacketCapture?>
    private let logger: Logger
    private let gauge = UDPSessionGauge()
    /// Bytes written to each side so far, open sessions included.
    package let forwarded = ForwardedBytes()
    private let running = Mutex<(channel: any Channel, table: NIOLoopBound<UDPSessionTable>)?>(nil)
    /// Whether `endGrace` was called, and the table of a shutdown under way, which it
    /// tells.
    private let grace = Mutex<(ended: Bool, stopping: NIOLoopBound<UDPSessionTable>?)>((false, nil))

    /// - Throws: `InvalidInputError` for a zero idle timeout or a session cap below 1,
    ///   `ProfileError` for a profile the UDP engine cannot carry.
    package init(
        configuration: UDPProxyConfiguration,
        group: any EventLoopGroup,
        events: any EventSink = NullEventSink(),
        capture: PacketCapture? = nil,
        logger: Logger = Logger(label: "faultline.proxy")
    ) throws {
        self.plan = LivePlan(try configuration.validated())
        self.configuration = configuration
        self.group = group
        self.events = events
        self.capture = Mutex(capture)
        var logger = logger
        logger[metadataKey: "proxy.name"] = "\(configuration.name)"
        self.logger = logger
    }

    /// Sessions open now (closing ones included).
    package var openSessions: Int {
        self.gauge.value.load(ordering: .relaxed)
    }

    /// Binds the listener and starts forwarding.
    ///
    /// - Returns: the bound address (the real port when `listen` asked for port 0).
    /// - Throws: `InvalidInputError` (exit 2) for an address that cannot be used,
    ///   `RuntimeFailure` (exit 3) for a port in use or a refused bind.
    @discardableResult
    package func start() async throws -> SocketAddress {
        let listen = self.configuration.listen
        let upstreamHost = self.configuration.upstream
        let address = try Listening.address(listen)
        let upstream: SocketAddress
        do {
            upstream = try SocketAddress.makeAddressResolvingHost(upstreamHost.host, port: upstreamHost.port)
        } catch {
            throw InvalidInputError("--upstream \(upstreamHost): cannot resolve host '\(upstreamHost.host)'")
        }
        let loop = self.group.next()
        let capture = self.capture.withLock { $0 }
        let table = try await loop.submit { [configuration, plan, events, logger, gauge, forwarded] in
            NIOLoopBound(
                UDPSessionTable(
                    configuration: configuration,
                    plan: plan,
                    upstream: upstream,
                    events: events,
                    capture: capture,
                    logger: logger,
                    gauge: gauge,
                    forwarded: forwarded
                ),
                eventLoop: loop
            )
        }.get()
        // No SO_REUSEADDR: on Linux it lets two UDP sockets share a port, which would
        // hide "address already in use".
        let bootstrap = Self.bootstrap(on: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(table.value)
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(to: address).get()
        } catch let error as IOError {
            throw Listening.failure(error, listen: listen)
        }
        self.running.withLock { $0 = (channel, table) }
        let bound = channel.localAddress ?? address
        var start = Event(.proxyStart)
        start.proxy = self.configuration.name
        start.listen = bound.hostPortText
        start.upstream = upstream.hostPortText
        if let plan = self.configuration.faults {
            start.seed = plan.seed
            start.profile = plan.profile.name
            start.profileHash = plan.profile.hash.isEmpty ? nil : plan.profile.hash
            start.plan = 1
        }
        start.framing = self.configuration.recordDatagrams ? "datagram" : nil
        start.mono = loop.now.uptimeNanoseconds
        self.events.record(start)
        self.logger.info(
            "udp proxy listening",
            metadata: [
                "listen": "\(bound.hostPortText)",
                "upstream": "\(upstream.hostPortText)",
                "rules": "\(self.plan.current.plan.profile.rules.count)",
                "seed": "\(self.plan.current.plan.seed)",
            ]
        )
        return bound
    }

    /// Puts `profile` in force while the proxy runs: new sessions, and every open one,
    /// follow it; no session is closed. What a session keeps for a rule the new plan
    /// keeps as it was (a Gilbert-Elliott chain, a rate bucket and queue, delayed
    /// datagrams) stays; what a rule it removed or changed holds (datagrams a `delay`
    /// delays, a `rate` queues) is sent at once, each a `released` fault event
    /// (`reason: plan_change`), as on TCP. Records a `plan_change` event first, and
    /// returns once every open session follows the new plan.
    ///
    /// - Throws: `ProfileError` (exit 2) for a profile this proxy cannot carry (a TCP
    ///   profile, TCP kinds).
    @discardableResult
    package func apply(_ profile: Profile) async throws -> LivePlan.Version {
        let version = self.plan.replace(with: try profile.forDatagrams())
        self.events.record(version.changeEvent(proxy: self.configuration.name, mono: NIODeadline.now().uptimeNanoseconds))
        if let (listener, table) = self.running.withLock({ $0 }) {
            try? await listener.eventLoop.submit { table.value.planChanged() }.get()
        }
        return version
    }

    /// Starts capturing both legs of every session into `capture`, or stops (nil),
    /// while the proxy runs: new sessions and the open ones follow it. Returns once they
    /// do, so the capture it replaced gets no more packets and can be closed.
    package func setCapture(_ capture: PacketCapture?) async {
        self.capture.withLock { $0 = capture }
        guard let (listener, table) = self.running.withLock({ $0 }) else { return }
        try? await listener.eventLoop.submit { table.value.setCapture(capture) }.get()
    }

    /// Stops opening sessions and closes every session: for up to `grace` each closes
    /// as soon as nothing is held in it (what faults hold leaves as their rules say;
    /// datagrams still pass both ways meanwhile), then the rest close at once, discarding what
    /// faults still hold, counted as dropped in their `conn_close` (as TCP's `shutdown`
    /// does; `serve` deleting or disabling a proxy gives no grace). Waits until each
    /// session recorded `conn_close`, then closes the listener.
    package func shutdown(grace: TimeAmount) async {
        let running = self.running.withLock { running -> (channel: any Channel, table: NIOLoopBound<UDPSessionTable>)? in
            defer { running = nil }
            return running
        }
        guard let (listener, table) = running else { return }
        let loop = listener.eventLoop
        let drained = loop.makePromise(of: Void.self)
        let ended = self.grace.withLock { state in
            state.stopping = table
            return state.ended
        }
        loop.execute {
            if ended { table.value.endGrace() }
            table.value.shutdown(grace: grace, whenDone: drained)
        }
        try? await drained.futureResult.get()
        try? await listener.close()
        var stop = Event(.proxyStop)
        stop.proxy = self.configuration.name
        stop.mono = loop.now.uptimeNanoseconds
        self.events.record(stop)
    }

    /// Ends a shutdown's grace at once (a second SIGINT or SIGTERM): sessions still open
    /// close now, what faults hold in them discarded and counted as dropped, as when the
    /// grace is over. Called before a shutdown, it makes that shutdown's grace none.
    package func endGrace() {
        let stopping = self.grace.withLock { state in
            state.ended = true
            return state.stopping
        }
        guard let stopping else { return }
        stopping.eventLoop.execute { stopping.value.endGrace() }
    }
}
