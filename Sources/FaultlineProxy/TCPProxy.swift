import FaultlineCore
import FaultlineFraming
import FaultlineRecords
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one TCP proxy listens on and forwards to.
package struct TCPProxyConfiguration: Sendable {
    /// The proxy's name in logs and events (`proxy.name`).
    package var name: String
    package var listen: HostPort
    package var upstream: HostPort
    /// How long dialling the upstream may take before the client is let go.
    package var connectTimeout: TimeAmount
    /// The profile and seed to inject faults with; nil forwards everything unchanged.
    package var faults: FaultPlan?
    /// How each connection is cut into messages (`--framing`); raw adds nothing.
    package var framing: FramingConfiguration

    package init(
        name: String = "proxy",
        listen: HostPort,
        upstream: HostPort,
        connectTimeout: TimeAmount = .seconds(5),
        faults: FaultPlan? = nil,
        framing: FramingConfiguration = .raw
    ) {
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.connectTimeout = connectTimeout
        self.faults = faults
        self.framing = framing
    }
}

/// A TCP listener that joins each accepted client to a fresh upstream connection.
///
/// The upstream is dialled on the client channel's own event loop, so a connection's two
/// channels share a thread and its handlers need no locks. The client is read while its
/// upstream is dialled (`dialUpstream`), so a `respond` rule answers without waiting for
/// it. One failing connection never stops the listener.
package final class TCPProxy: Sendable {
    package let configuration: TCPProxyConfiguration
    private let group: any EventLoopGroup
    let events: any EventSink
    /// Where new connections' packets go (`setCapture` changes it while running).
    private let capture: Mutex<PacketCapture?>
    private let logger: Logger
    private let connections = ConnectionRegistry()
    private let serverChannel = Mutex<(any Channel)?>(nil)
    /// A shutdown's grace: ended early by `endGrace()` (set before a shutdown began:
    /// its grace is none), else the promise its grace waits on.
    private let grace = Mutex<(ended: Bool, waiting: EventLoopPromise<Void>?)>((false, nil))
    /// When the listener started (event-loop uptime ns): the origin of time windows and
    /// schedules.
    private let startedAt = Atomic<UInt64>(0)
    /// Attempt numbers of logical requests, across this proxy's connections.
    private let attempts = AttemptLedger()
    /// The plan in force, which `apply` changes while the proxy runs.
    package let plan: LivePlan
    /// Bytes written to each side so far, open connections included.
    package let forwarded = ForwardedBytes()
    /// Dials the upstream for every connection (and for copies of duplicated requests).
    private let dialer: UpstreamDialer

    /// False while the proxy still runs the empty plan it started with: connections
    /// then skip the plan altogether.
    var mayFault: Bool {
        self.plan.number > 1 || !(self.configuration.faults?.isEmpty ?? true)
    }

    package init(
        configuration: TCPProxyConfiguration,
        group: any EventLoopGroup,
        events: any EventSink = NullEventSink(),
        capture: PacketCapture? = nil,
        logger: Logger = Logger(label: "faultline.proxy")
    ) {
        self.configuration = configuration
        self.group = group
        self.events = events
        self.capture = Mutex(capture)
        self.plan = LivePlan(configuration.faults ?? .passthrough())
        self.dialer = UpstreamDialer(upstream: configuration.upstream, connectTimeout: configuration.connectTimeout)
        var logger = logger
        logger[metadataKey: "proxy.name"] = "\(configuration.name)"
        self.logger = logger
    }

    /// The number of client connections open now.
    package var openConnections: Int {
        self.connections.count
    }

    /// Binds the listener and starts accepting.
    ///
    /// - Returns: the bound address (the real port when `listen` asked for port 0).
    /// - Throws: `InvalidInputError` (exit 2) for an address that cannot be used,
    ///   `ProfileError` (exit 2) for message rules the framing cannot carry,
    ///   `RuntimeFailure` (exit 3) for a port in use or a refused bind.
    @discardableResult
    package func start() async throws -> SocketAddress {
        if let plan = self.configuration.faults, let framing = Profile.Framing(rawValue: self.configuration.framing.kind.name) {
            try plan.profile.checkMessageRules(framing: framing)
        }
        let listen = self.configuration.listen
        let address = try Listening.address(listen)
        let bootstrap = ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Accepted sockets inherit it from the listener (swift-nio's default, said
            // here because the children rely on it): set on each of them, swift-nio
            // first asks the socket its address (getsockname and the address's text),
            // about 2 % of a short connection's instructions and a system call.
            .serverChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .serverChannelInitializer { [self] channel in
                // Out of descriptors (EMFILE), the listener stops accepting for a moment
                // instead of spinning on the failing accept.
                let backoff = AcceptBackoff(proxy: self.configuration.name, events: self.events)
                let acceptor = Acceptor { [self] child, ordinal in
                    do {
                        // Reads start once the channel is active, after its `channelActive`
                        // has dialled the upstream or turned the client away (`accept`).
                        try ProxiedChannel.configure(child, halfClosure: true)
                        try self.accept(child, ordinal: ordinal)
                    } catch {
                        // The client is closed unserved: say why, as for an unreachable upstream.
                        var logger = self.logger
                        logger[metadataKey: "conn.ordinal"] = "\(ordinal)"
                        logger.warning("could not set up the client's connection, closing it", metadata: ["error": "\(error)"])
                        throw error
                    }
                }
                // The acceptor first: it takes every accepted channel, so reads never pass
                // through the backoff, which wants only the listener's errors.
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([acceptor, backoff])
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(to: address).get()
        } catch let error as IOError {
            throw Listening.failure(error, listen: listen)
        }
        self.serverChannel.withLock { $0 = channel }
        let bound = channel.localAddress ?? address
        var start = Event(.proxyStart)
        start.proxy = self.configuration.name
        start.listen = bound.hostPortText
        start.upstream = self.configuration.upstream.description
        start.framing = self.configuration.framing.kind.name
        start.mono = channel.eventLoop.now.uptimeNanoseconds
        self.startedAt.store(start.mono ?? 0, ordering: .relaxed)
        if let plan = self.configuration.faults {
            start.seed = plan.seed
            start.profile = plan.profile.name
            start.profileHash = plan.profile.hash.isEmpty ? nil : plan.profile.hash
            start.plan = 1
        }
        self.events.record(start)
        self.logger.info(
            "proxy listening",
            metadata: ["listen": "\(bound.hostPortText)", "upstream": "\(self.configuration.upstream)"]
        )
        return bound
    }

    /// Puts `profile` in force while the proxy runs: new connections and new data on
    /// open ones follow it at once, and no connection is dropped unless a rule says so.
    /// Records a `plan_change` event, and returns once every connection open now
    /// follows the new plan (so traffic sent after it is decided by it).
    ///
    /// - Throws: `ProfileError` (exit 2) for a profile this proxy cannot carry (UDP
    ///   kinds, message rules its framing cannot frame).
    @discardableResult
    package func apply(_ profile: Profile) async throws -> LivePlan.Version {
        try profile.require(.tcp)
        if let framing = Profile.Framing(rawValue: self.configuration.framing.kind.name) {
            try profile.checkMessageRules(framing: framing)
        }
        let version = self.plan.replace(with: profile)
        self.events.record(version.changeEvent(proxy: self.configuration.name, mono: NIODeadline.now().uptimeNanoseconds))
        let refreshed = self.connections.forEachPipeline { [self] pipeline in self.refresh(pipeline) }
        try? await EventLoopFuture.andAllComplete(refreshed, on: self.group.any()).get()
        return version
    }

    /// Starts capturing both legs of every connection into `capture`, or stops (nil),
    /// while the proxy runs: new connections and the open ones follow it, and no
    /// connection is disturbed. Returns once every open connection follows it, so the
    /// capture it replaced gets no more packets and can be closed.
    package func setCapture(_ capture: PacketCapture?) async {
        self.capture.withLock { $0 = capture }
        let done = self.connections.forEachPipeline { pipeline in pipeline.setCapture(capture) }
        try? await EventLoopFuture.andAllComplete(done, on: self.group.any()).get()
    }

    /// Stops accepting, lets open connections finish for up to `grace`, then closes the
    /// rest and returns once every connection is closed.
    package func shutdown(grace: TimeAmount) async {
        let listener = self.serverChannel.withLock { channel -> (any Channel)? in
            defer { channel = nil }
            return channel
        }
        guard let listener else { return }
        try? await listener.close()
        let loop = listener.eventLoop
        let drained = loop.makePromise(of: Void.self)
        self.connections.notifyWhenEmpty(drained)
        let deadline = loop.scheduleTask(in: grace) { drained.succeed() }
        let ended = self.grace.withLock { state in
            state.waiting = drained
            return state.ended
        }
        if ended { drained.succeed() }
        try? await drained.futureResult.get()
        deadline.cancel()
        let stragglers = self.connections.count
        if stragglers > 0 {
            self.logger.info("grace period over, closing connections", metadata: ["count": "\(stragglers)"])
        }
        try? await self.connections.closeAll(on: loop).get()
        var stop = Event(.proxyStop)
        stop.proxy = self.configuration.name
        stop.mono = loop.now.uptimeNanoseconds
        self.events.record(stop)
    }

    /// Ends a shutdown's grace at once (a second SIGINT or SIGTERM): the connections
    /// still open are closed as when the grace is over, and their records kept. Called
    /// before a shutdown, it makes that shutdown's grace none.
    package func endGrace() {
        let waiting = self.grace.withLock { state in
            state.ended = true
            return state.waiting
        }
        waiting?.succeed()
    }

    // MARK: Per connection

    /// Called on the client channel's loop before it is registered (`Acceptor`), so
    /// the upstream is dialled only once it is active.
    private func accept(_ client: any Channel, ordinal: UInt64) throws {
        let pipeline = ConnectionPipeline(
            ordinal: ordinal,
            proxy: self.configuration.name,
            framing: self.configuration.framing,
            events: self.events,
            attempts: self.attempts,
            // Only framing groups requests by client host.
            clientHost: self.configuration.framing.kind == .raw ? nil : client.remoteAddress?.ipAddress,
            forwarded: self.forwarded
        )
        // Registered before the plan and the capture are read: a change from now on
        // reaches this connection through the registry (`apply`, `setCapture`), one
        // before it is read here.
        self.connections.open(ordinal, client: client, pipeline: pipeline)
        pipeline.setCapture(self.capture.withLock { $0 })
        let proxyStart = NIODeadline.uptimeNanoseconds(self.startedAt.load(ordering: .relaxed))
        if let faults = self.faults(for: pipeline, client: client, proxyStart: proxyStart) {
            pipeline.installFaults(faults) { self.messageSupport($0) }
        }
        // Once the client's channel is active (the initializer runs before it is
        // registered): turn it away, or dial its upstream. swift-nio starts reading
        // right after (`autoRead`), not once the upstream is connected (see
        // `dialUpstream`): toggling `autoRead` around the dial cost two option calls a
        // connection, about 2 % of its instructions.
        pipeline.clientBridge.onActive = { [self] client in
            if self.refuse(client, ordinal: ordinal, proxyStart: proxyStart) { return }
            self.dialUpstream(for: client, pipeline: pipeline)
        }
        try client.pipeline.syncOperations.addHandlers(pipeline.clientHandlers(client))
    }

    /// The connection's fault state under the plan in force, or nil when no rule of
    /// it can act on this connection (no stages: passthrough costs nothing).
    private func faults(for pipeline: ConnectionPipeline, client: any Channel, proxyStart: NIODeadline) -> FaultConnection? {
        guard self.mayFault else { return nil }
        let faults = FaultConnection(
            plan: self.plan,
            ordinal: pipeline.ordinal,
            client: client,
            clientLedger: pipeline.clientLedger,
            proxyName: self.configuration.name,
            events: self.events,
            proxyStart: proxyStart
        )
        return faults.isInert ? nil : faults
    }

    private func messageSupport(_ exchange: Exchange) -> MessageSupport {
        MessageSupport(
            exchange: exchange,
            framing: self.configuration.framing,
            dialer: self.dialer,
            registry: self.connections
        )
    }

    /// A plan change reached an open connection (on its loop): its fault state follows
    /// the new plan, or is made and its stages inserted if it had none.
    private func refresh(_ pipeline: ConnectionPipeline) {
        if let faults = pipeline.faults {
            faults.refresh()
            // Message rules may be new to this connection.
            pipeline.installFaults(faults) { self.messageSupport($0) }
            return
        }
        guard let client = pipeline.client, client.isActive else { return }
        let proxyStart = NIODeadline.uptimeNanoseconds(self.startedAt.load(ordering: .relaxed))
        guard let faults = self.faults(for: pipeline, client: client, proxyStart: proxyStart) else { return }
        pipeline.installFaults(faults) { self.messageSupport($0) }
    }

    /// Dials the upstream for a client that was let in, and reads the client meanwhile.
    ///
    /// The connection is logged as opened now, before anything is read, so every event
    /// of it follows its `conn_open`; its `conn_close` comes once the client has closed
    /// and the upstream has closed or never came, whatever the dial did:
    /// - **Reads start now.** A `respond` rule answers at once, even while a slow
    ///   upstream is dialled; what is meant for the upstream waits for it (in the
    ///   dialled channel, or in the bridge for a host name: bounded either way).
    /// - **The client leaves first**: the dial is given up, and what waited for the
    ///   upstream is counted as dropped.
    /// - **The dial fails**: an `upstream_error`, and what waited is dropped. The client
    ///   is closed, unless a `respond` rule can serve it: then it is closed only when it
    ///   sends something for the upstream (or its end), and answered until then.
    private func dialUpstream(for client: any Channel, pipeline: ConnectionPipeline) {
        let ordinal = pipeline.ordinal
        let upstream = self.configuration.upstream
        let loop = client.eventLoop
        self.recordOpen(ordinal: ordinal, client: client)
        self.connections.recordsClose(ordinal)
        let bound = NIOLoopBound(pipeline, eventLoop: loop)
        // The upstream is dialled on the client's loop: the initializer runs there, and
        // its handlers follow whatever plan is in force by then. A channel that connects
        // after the client left joins nothing.
        let connected = self.dialer.connect(on: loop, halfClosure: true) { channel in
            let pipeline = bound.value
            guard pipeline.dial == .dialling else { throw ChannelError.ioOnClosedChannel }
            try channel.pipeline.syncOperations.addHandlers(pipeline.upstreamHandlers(channel))
        }
        // The callbacks that outlive the dial capture the proxy and the pipeline only (the
        // loop is the client's): an idle connection holds them all its life.
        client.closeFuture.assumeIsolated().whenComplete { [self, pipeline] _ in
            pipeline.clientClosed = true
            if pipeline.dial == .dialling {
                pipeline.dialAbandoned()
                if let dialled = pipeline.upstream {
                    // Ends the connect: the upstream is settled once it has closed.
                    dialled.close(promise: nil)
                } else {
                    pipeline.upstreamSettled = true
                }
            }
            self.finishIfOver(pipeline)
        }
        connected.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let upstreamChannel):
                guard pipeline.dial == .dialling, client.isActive else {
                    if pipeline.dial == .dialling { pipeline.dialAbandoned() }
                    upstreamChannel.close(promise: nil)
                    self.settleUpstream(pipeline, closing: upstreamChannel)
                    return
                }
                pipeline.dial = .connected
                self.connections.attach(ordinal, upstream: upstreamChannel)
                pipeline.bridged()
                self.settleUpstream(pipeline, closing: upstreamChannel)
            case .failure(let error):
                // A client that left (a reset at once, say) while its upstream was being
                // dialled is not the upstream's doing: the dial was given up.
                guard pipeline.dial == .dialling, client.isActive else {
                    if pipeline.dial == .dialling { pipeline.dialAbandoned() }
                    self.settleUpstream(pipeline, closing: pipeline.upstream)
                    return
                }
                let failedAt = loop.now
                var logger = self.logger
                logger[metadataKey: "conn.ordinal"] = "\(ordinal)"
                let reason = ConnectFailure.describe(error)
                logger.warning(
                    "upstream unreachable",
                    metadata: ["upstream": "\(upstream)", "error": "\(reason)"]
                )
                var event = Event(.upstreamError)
                event.proxy = self.configuration.name
                event.conn = ordinal
                event.client = client.remoteAddress?.hostPortText
                event.upstream = upstream.description
                event.reason = reason
                event.mono = failedAt.uptimeNanoseconds
                self.events.record(event)
                pipeline.dial = .failed(failedAt)
                // Once the dialled channel's handlers are gone (its writes failed and
                // counted), nothing can reach it any more.
                let gone = pipeline.upstream?.closeFuture ?? loop.makeSucceededVoidFuture()
                gone.assumeIsolated().whenComplete { _ in
                    let serves = pipeline.dialFailed(at: failedAt) { Self.closeAfterWrites(client) }
                    if !serves { Self.closeAfterWrites(client) }
                    pipeline.upstreamSettled = true
                    self.finishIfOver(pipeline)
                }
            }
        }
    }

    /// The upstream side is settled once `channel` (if any) has closed.
    private func settleUpstream(_ pipeline: ConnectionPipeline, closing channel: (any Channel)?) {
        guard let channel else {
            pipeline.upstreamSettled = true
            self.finishIfOver(pipeline)
            return
        }
        channel.closeFuture.assumeIsolated().whenComplete { [self, pipeline] _ in
            pipeline.upstreamSettled = true
            self.finishIfOver(pipeline)
        }
    }

    /// Records the connection's close once both sides are done and every copy of its
    /// duplicated requests is settled (its `duplicate_reply` recorded: a copy travels on
    /// a connection of its own and can outlast both sockets), and lets the registry
    /// forget it. So `conn_close` counts every copy the server got, and stays the
    /// connection's last event; shutdown waits for the copies as for the connection.
    private func finishIfOver(_ pipeline: ConnectionPipeline) {
        guard pipeline.clientClosed, pipeline.upstreamSettled, !pipeline.closeRecorded, let loop = pipeline.client?.eventLoop else { return }
        if let faults = pipeline.faults, faults.copiesUnsettled > 0 {
            guard !pipeline.awaitingCopies else { return }
            pipeline.awaitingCopies = true
            faults.whenCopiesSettled(on: loop) { [self] in
                pipeline.awaitingCopies = false
                self.finishIfOver(pipeline)
            }
            return
        }
        pipeline.closeRecorded = true
        self.recordClose(ordinal: pipeline.ordinal, on: loop, pipeline: pipeline)
        self.connections.finish(pipeline.ordinal)
    }

    /// Closes a client once what was written to it has gone out (its answers), as the
    /// other end's kernel would after FIN.
    private static func closeAfterWrites(_ client: any Channel) {
        client.close(mode: .output).assumeIsolated().whenComplete { _ in
            client.close(promise: nil)
        }
    }

    private func recordOpen(ordinal: UInt64, client: any Channel) {
        guard self.events.isRecording else { return }
        var event = Event(.connectionOpen)
        event.proxy = self.configuration.name
        event.conn = ordinal
        event.client = client.remoteAddress?.hostPortText
        event.upstream = self.configuration.upstream.description
        event.mono = client.eventLoop.now.uptimeNanoseconds
        self.events.record(event)
    }

    private func recordClose(ordinal: UInt64, on loop: any EventLoop, pipeline: ConnectionPipeline) {
        guard self.events.isRecording else { return }
        let client = pipeline.clientBridge
        let upstream = pipeline.upstreamBridge
        var event = Event(.connectionClose)
        event.proxy = self.configuration.name
        event.conn = ordinal
        // Read: what the bridges read plus what fault stages discarded before them.
        // Forwarded: what the ledgers saw reach the sockets. Dropped: what fault stages
        // discarded on either side of the bridge, plus writes a close discarded and bytes
        // read for a side already gone (`BridgeHandler.bytesLost`). The
        // three are counted apart, so per direction read = forwarded + dropped is a check.
        let before = pipeline.faults?.tally.droppedBeforeBridge ?? [:]
        let after = pipeline.faults?.tally.droppedAfterBridge ?? [:]
        event.bytesFromClient = client.bytesRead + before[.upstream, default: 0]
        event.bytesToUpstream = pipeline.upstreamLedger.sent
        event.bytesFromUpstream = upstream.bytesRead + before[.downstream, default: 0]
        event.bytesToClient = pipeline.clientLedger.sent
        let droppedUpstream = before[.upstream, default: 0] + after[.upstream, default: 0] + pipeline.upstreamLedger.discarded
            + upstream.bytesLost
        let droppedDownstream = before[.downstream, default: 0] + after[.downstream, default: 0] + pipeline.clientLedger.discarded
            + client.bytesLost
        if pipeline.faults != nil || droppedUpstream > 0 || droppedDownstream > 0 {
            event.droppedUpstream = droppedUpstream
            event.droppedDownstream = droppedDownstream
            event.duplicatedUpstream = pipeline.faults?.tally.duplicated[.upstream]
            let injected = pipeline.clientLedger.injectedSent
            event.injectedDownstream = injected > 0 ? injected : nil
        }
        // A failed dial is the upstream's end, at the time it failed.
        var dialFailedAt: NIODeadline?
        if case .failed(let time) = pipeline.dial { dialFailedAt = time }
        if pipeline.closedAtShutdown {
            event.reason = "shutdown"
        } else if dialFailedAt != nil {
            event.reason = "upstream_unreachable"
        } else if pipeline.faults?.severedByReset == true {
            // The proxy reset both sides (a sever or reset_peer fault): no peer did.
            event.reason = "reset"
        } else {
            event.reason = Self.closeReason(client: client.ending, upstream: upstream.ending)
        }
        if pipeline.faults?.severed == true || pipeline.closedAtShutdown {
            event.closedBy = "proxy"
        } else if let dialFailedAt {
            event.closedBy = (client.endedAt.map { $0 < dialFailedAt } ?? false) ? "client" : "upstream"
        } else if client.endedFirst {
            event.closedBy = "client"
        } else if upstream.endedFirst {
            event.closedBy = "upstream"
        }
        event.firstCloseMono = [client.endedAt, upstream.endedAt, dialFailedAt, pipeline.faults?.severedAt].compactMap { $0 }.min()?
            .uptimeNanoseconds
        event.unansweredUnit = pipeline.framing?.exchange.unanswered()
        event.mono = loop.now.uptimeNanoseconds
        self.events.record(event)
    }

    private static func closeReason(client: BridgeHandler.Ending, upstream: BridgeHandler.Ending) -> String {
        switch (client, upstream) {
        case (.reset, _): "client_reset"
        case (_, .reset): "upstream_reset"
        case (.failed, _): "client_error"
        case (_, .failed): "upstream_error"
        default: "closed"
        }
    }
}

extension SocketAddress {
    /// `HOST:PORT` with brackets around IPv6, as the CLI prints and parses it.
    package var hostPortText: String {
        let host = self.ipAddress ?? "?"
        let port = self.port ?? 0
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
