import FaultlineCore
import FaultlineHost
import Logging
import Synchronization

/// The launcher the server uses: `ProxyHost.start`.
public enum HostedProxyLauncher {
    public static func make(logger: Logger) -> ProxyLauncher {
        { spec in try await RestartingProxy.start(spec, logger: logger) }
    }
}

/// Stand-in until the host's live plans land: a plan change restarts the proxy on the
/// same address with the new profile. Open connections are closed by it, so this is
/// only ever a bridge; `HostedProxy.apply` replaces it.
final class RestartingProxy: ControlledProxy {
    private struct State {
        var proxy: HostedProxy
        var version: UInt64
    }

    private let state: Mutex<State>
    private let spec: ProxySpec
    private let logger: Logger

    private init(proxy: HostedProxy, spec: ProxySpec, logger: Logger) {
        self.state = Mutex(State(proxy: proxy, version: 0))
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
        var spec = self.spec
        spec.profile = profile
        spec.seed = old.seed
        spec.listen = old.address
        try await old.stop(grace: .zero)
        let proxy = try await ProxyHost.start(spec, logger: self.logger)
        return self.state.withLock { state in
            state.proxy = proxy
            state.version += 1
            return state.version
        }
    }

    func stop(grace: Duration) async throws {
        try await self.current.stop(grace: grace)
    }
}
