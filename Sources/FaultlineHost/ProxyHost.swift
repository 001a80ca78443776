import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import Logging
import NIOCore
import NIOPosix

/// Starts proxies, TCP or UDP, with their records, from a `ProxySpec`: the one place
/// that wires a profile, a seed, framing, an event log and a capture into a running
/// proxy. `faultline proxy` starts one; `faultline run` starts every proxy of a run
/// file; the control API starts them on request.
package enum ProxyHost {
    /// Checks the spec, opens its records, announces the seed and starts listening.
    ///
    /// Errors are the user's to read: a profile for the wrong transport or whose message
    /// rules need framing is bad input (exit 2); an address in use is a runtime failure
    /// (exit 3). Records opened before a failure are closed and removed: the proxy
    /// never ran.
    package static func start(
        _ spec: ProxySpec,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> HostedProxy {
        var logger = logger
        logger[metadataKey: "proxy.name"] = "\(spec.name)"
        let seed = spec.resolvedSeed()
        let prepared = try Self.prepare(spec, seed: seed)
        if let profile = spec.profile { Self.announce(seed: seed, profile: profile, to: logger) }
        let records = try ProxyRecords(spec.records)
        let tally = spec.tallies ? EventTally(passingTo: records.events) : nil
        let events = tally ?? records.events
        do {
            let engine: HostedProxy.Engine
            let bound: SocketAddress
            switch prepared {
            case .tcp(let configuration):
                let proxy = TCPProxy(configuration: configuration, group: group, events: events, capture: records.capture, logger: logger)
                bound = try await proxy.start()
                engine = .tcp(proxy)
            case .udp(let configuration):
                let proxy = try UDPProxy(configuration: configuration, group: group, events: events, capture: records.capture, logger: logger)
                bound = try await proxy.start()
                engine = .udp(proxy)
            }
            let address = HostPort(host: bound.ipAddress ?? spec.listen.host, port: bound.port ?? spec.listen.port)
            return HostedProxy(spec: spec, address: address, seed: seed, tally: tally, engine: engine, records: records, logger: logger)
        } catch {
            await records.discard(logger: logger)
            throw error
        }
    }

    /// The seed is what makes a run reproducible: always said, at info, on both transports.
    package static func announce(seed: UInt64, profile: Profile, to logger: Logger) {
        logger.info(
            "seed \(seed)",
            metadata: ["profile": "\(profile.name)", "profile.hash": "\(profile.hash)", "seed": "\(seed)"]
        )
    }

    private enum Prepared {
        case tcp(TCPProxyConfiguration)
        case udp(UDPProxyConfiguration)
    }

    /// The engine configuration for a spec, after every check that bad input can fail.
    private static func prepare(_ spec: ProxySpec, seed: UInt64) throws -> Prepared {
        // Port 0 asks to be given a free port: right for a listener, never reachable.
        guard spec.upstream.port != 0 else {
            throw InvalidInputError("upstream \(spec.upstream): port 0 cannot be connected to; give the service's port")
        }
        switch spec.transport {
        case .tcp:
            // A proxy without a profile still gets its seed: a plan put in force later
            // (the control API) draws from it.
            let plan = FaultPlan(profile: spec.profile ?? .none, seed: seed, proxy: spec.index)
            try plan.profile.require(.tcp)
            if let framing = Profile.Framing(rawValue: spec.framing.kind.name) {
                try plan.profile.checkMessageRules(framing: framing)
            }
            return .tcp(
                TCPProxyConfiguration(
                    name: spec.name,
                    listen: spec.listen,
                    upstream: spec.upstream,
                    connectTimeout: .nanoseconds(spec.connectTimeout.nanoseconds),
                    faults: plan,
                    framing: spec.framing
                )
            )
        case .udp:
            guard spec.udpMaxSessions >= 1 else {
                throw InvalidInputError("the UDP session cap must be at least 1, got \(spec.udpMaxSessions)")
            }
            guard spec.udpIdleTimeout > .zero else {
                throw InvalidInputError("the UDP idle timeout must be above zero")
            }
            if spec.framing.kind != .raw {
                throw InvalidInputError("framing applies to TCP only; a UDP proxy frames each datagram as one message")
            }
            // As for TCP: a plan even without a profile, so one put in force later
            // draws from the seed.
            let plan = FaultPlan(profile: spec.profile ?? .none, seed: seed, proxy: spec.index)
            _ = try plan.profile.forDatagrams()
            var configuration = UDPProxyConfiguration(
                name: spec.name,
                listen: spec.listen,
                upstream: spec.upstream,
                idleTimeout: spec.udpIdleTimeout,
                maxSessions: spec.udpMaxSessions,
                faults: plan
            )
            // With a log, every datagram is a message the checker can judge.
            configuration.recordDatagrams = spec.records.log != nil
            return .udp(configuration)
        }
    }
}
