import ArgumentParser
import FaultlineCore
import FaultlineProxy
import Logging
import NIOCore
import NIOPosix

extension Proxy {
    /// `faultline proxy --udp`: one UDP proxy in the foreground until SIGINT or SIGTERM.
    ///
    /// `--profile` gives the datagram rules (only a `transport: udp` profile; any other
    /// exits 2), `--seed` (else the profile's, else a random one, always logged) keys
    /// every decision, `--log` and `--pcap` record what passed and what was done to it.
    func runUDP() async throws {
        guard self.udpMaxSessions >= 1 else {
            throw ValidationError("--udp-max-sessions must be at least 1, got \(self.udpMaxSessions)")
        }
        guard self.udpIdleTimeout.duration > .zero else {
            throw ValidationError("--udp-idle-timeout must be above zero")
        }
        let profile = try self.profile.map { try ProfileLoader.fromEnvironment().load($0) }
        let rules = try profile?.datagramRules() ?? []
        let seed = self.seed ?? profile?.seed ?? UInt64.random(in: 0...UInt64(Int64.max))
        let configuration = UDPProxyConfiguration(
            name: self.name,
            listen: try HostPort(parsing: self.listen, what: "--listen"),
            upstream: try HostPort(parsing: self.upstream, what: "--upstream"),
            idleTimeout: self.udpIdleTimeout.duration,
            maxSessions: self.udpMaxSessions,
            rules: rules,
            schedule: profile?.schedule,
            seed: seed,
            proxyIndex: 0,
            profile: profile.map { ($0.name, $0.hash) }
        )
        self.logging.bootstrap()
        let logger = Logger(label: "faultline.proxy")
        if let profile { Self.announce(seed: seed, profile: profile, to: logger) }
        OpenFileLimit.raiseToHardLimit()
        let signals = TerminationSignals()
        let records = try Records(log: self.log, pcap: self.pcap, pcapMaxSize: self.pcapMaxSize?.bytes, pcapBuffer: self.pcapBuffer.map { Int($0.bytes) })
        let proxy: UDPProxy
        let bound: SocketAddress
        do {
            proxy = try UDPProxy(
                configuration: configuration,
                group: MultiThreadedEventLoopGroup.singleton,
                events: records.events,
                capture: records.capture,
                logger: logger
            )
            bound = try await proxy.start()
        } catch {
            try? await records.close(logger: logger)
            throw error
        }
        Output.line("listening on \(bound.hostPortText)")
        if let signal = await signals.next() {
            logger.info(
                "stopping",
                metadata: ["signal": "\(TerminationSignals.name(signal))", "sessions": "\(proxy.openSessions)"]
            )
        }
        await proxy.shutdown()
        try await records.close(logger: logger)
    }
}
