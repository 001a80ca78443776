import FaultlineCore
import FaultlineProxy
import FaultlineTestSupport
import Logging
import NIOCore
import NIOPosix

/// A UDP plan with `rules` (built in code, so each decided per datagram) and `seed`.
func udpPlan(_ rules: [Rule], seed: UInt64 = 0) throws -> FaultPlan {
    FaultPlan(profile: try udpProfile(rules).forDatagrams(), seed: seed)
}

func udpProfile(_ rules: [Rule], name: String = "test") -> Profile {
    Profile(name: name, description: "test", transport: .udp, rules: rules)
}

extension RuleMatch {
    /// Datagrams with ordinals in `range` (of each session and direction), in `direction`.
    static func datagrams(_ range: ClosedRange<UInt64>, direction: DirectionMatch = .both) -> RuleMatch {
        RuleMatch(direction: direction, message: MessageMatch(ordinals: ConnectionOrdinals(first: range.upperBound + 1, skip: range.lowerBound)))
    }
}

/// Starts a UDP proxy on `127.0.0.1:0` in front of `upstreamPort`, runs `body` with the
/// proxy and its address, then shuts the proxy down.
func withUDPProxy<T: Sendable>(
    upstreamPort: Int,
    rules: [Rule] = [],
    seed: UInt64 = 0,
    idleTimeout: Duration = .seconds(60),
    maxSessions: Int = 10_000,
    events: any EventSink = NullEventSink(),
    body: (UDPProxy, SocketAddress) async throws -> T
) async throws -> T {
    let proxy = try UDPProxy(
        configuration: UDPProxyConfiguration(
            name: "test",
            listen: HostPort(host: "127.0.0.1", port: 0),
            upstream: HostPort(host: "127.0.0.1", port: upstreamPort),
            idleTimeout: idleTimeout,
            maxSessions: maxSessions,
            faults: try udpPlan(rules, seed: seed)
        ),
        group: MultiThreadedEventLoopGroup.singleton,
        events: events,
        logger: Logger(label: "faultline.test", factory: { _ in SwiftLogNoOpLogHandler() })
    )
    let address = try await proxy.start()
    do {
        let result = try await body(proxy, address)
        await proxy.shutdown(grace: .zero)
        return result
    } catch {
        await proxy.shutdown(grace: .zero)
        throw error
    }
}

/// The plan's decisions for one session's upstream datagrams, in order, as the proxy's
/// stage takes them: what a test expects the proxy to do.
struct UDPDecider {
    private let faults: ConnectionFaults
    private var chains = ChainStates()
    private var next: UInt64 = 0

    init(_ rules: [Rule], seed: UInt64) throws {
        self.faults = try udpPlan(rules, seed: seed).connection(0, client: nil)
    }

    mutating func decide() -> [FaultDecision] {
        defer { self.next += 1 }
        return self.faults.decideMessage(
            direction: .upstream, facts: MessageFacts(ordinal: self.next), sinceProxyStart: .zero, sinceOpen: .zero, chains: &self.chains
        )
    }

    /// Whether the next datagram is lost.
    mutating func dropsNext() -> Bool {
        self.decide().contains { $0.effect == .datagram(.drop) }
    }
}
