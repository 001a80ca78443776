import FaultlineCore
import FaultlineHost
import Logging
import Synchronization

/// The launcher the server uses: `ProxyHost.start`. A TCP proxy changes its plan live
/// (`HostedProxy.apply`); a UDP proxy, whose engine cannot yet, is restarted on the same
/// address with the new plan (its sessions start afresh; docs/api.md says so).
public enum HostedProxyLauncher {
    public static func make(logger: Logger) -> ProxyLauncher {
        { spec in
            switch spec.transport {
            case .tcp: try await ProxyHost.start(spec, logger: logger)
            case .udp: try await RestartingProxy.start(spec, logger: logger)
            }
        }
    }
}

extension HostedProxy: ControlledProxy {}

/// A UDP proxy whose plan changes by restarting it on the same address with the new
/// profile and the same seed. Each plan gets its own records (`NAME.planN.jsonl`,
/// `.pcap`), so no restart overwrites what the last one recorded. Used until the UDP
/// engine takes live plans.
final class RestartingProxy: ControlledProxy {
    private struct State {
        var proxy: HostedProxy
        var version: UInt64
    }

    private let state: Mutex<State>
    private let spec: ProxySpec
    private let logger: Logger

    private init(proxy: HostedProxy, spec: ProxySpec, logger: Logger) {
        self.state = Mutex(State(proxy: proxy, version: 1))
        self.spec = spec
        self.logger = logger
    }

    static func start(_ spec: ProxySpec, logger: Logger) async throws -> RestartingProxy {
        let proxy = try await ProxyHost.start(spec, logger: logger)
        return RestartingProxy(proxy: proxy, spec: spec, logger: logger)
    }

    private var current: HostedProxy { self.state.withLock { $0.proxy } }

    var address: HostPort { self.current.address }
    var seed: UInt64 { self.current.seed }
    var open: Int { self.current.open }
    var tally: EventTally? { self.current.tally }

    func apply(_ profile: Profile?) async throws -> UInt64 {
        let old = self.current
        let version = self.state.withLock { $0.version } + 1
        var spec = self.spec
        spec.profile = profile
        spec.seed = old.seed
        spec.listen = old.address
        spec.records.log = spec.records.log.map { Self.path($0, plan: version) }
        spec.records.pcap = spec.records.pcap.map { Self.path($0, plan: version) }
        try await old.stop(grace: .zero)
        let proxy = try await ProxyHost.start(spec, logger: self.logger)
        self.state.withLock { state in
            state.proxy = proxy
            state.version = version
        }
        return version
    }

    /// `dir/name.jsonl` becomes `dir/name.planN.jsonl`.
    static func path(_ path: String, plan: UInt64) -> String {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return "\(path).plan\(plan)" }
        return "\(path[..<dot]).plan\(plan)\(path[dot...])"
    }

    func stop(grace: Duration) async throws {
        try await self.current.stop(grace: grace)
    }
}
