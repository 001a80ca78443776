import ArgumentParser
import FaultlineCore
import FaultlineProxy
import Logging
import NIOCore
import NIOPosix

extension Proxy {
    /// `faultline proxy --udp`: one UDP proxy in the foreground until SIGINT or SIGTERM.
    ///
    /// Fault rules come from `--profile` once profiles are wired in; until then the
    /// proxy forwards every datagram untouched.
    func runUDP() async throws {
        guard self.udpMaxSessions >= 1 else {
            throw ValidationError("--udp-max-sessions must be at least 1, got \(self.udpMaxSessions)")
        }
        guard self.udpIdleTimeout.duration > .zero else {
            throw ValidationError("--udp-idle-timeout must be above zero")
        }
        let configuration = UDPProxyConfiguration(
            name: self.name,
            listen: try HostPort(parsing: self.listen, what: "--listen"),
            upstream: try HostPort(parsing: self.upstream, what: "--upstream"),
            idleTimeout: self.udpIdleTimeout.duration,
            maxSessions: self.udpMaxSessions
        )
        self.logging.bootstrap()
        let logger = Logger(label: "faultline.proxy")
        OpenFileLimit.raiseToHardLimit()
        let signals = TerminationSignals()
        let proxy = try UDPProxy(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let bound = try await proxy.start()
        Output.line("listening on \(bound.hostPortText)")
        if let signal = await signals.next() {
            logger.info(
                "stopping",
                metadata: ["signal": "\(TerminationSignals.name(signal))", "sessions": "\(proxy.openSessions)"]
            )
        }
        await proxy.shutdown()
    }
}
