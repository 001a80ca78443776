import FaultlineCore
import FaultlineHost
import Logging

/// The launcher the server uses: `ProxyHost.start`. Both transports change their plan
/// live (`HostedProxy.apply`): open TCP connections and UDP sessions are kept.
package enum HostedProxyLauncher {
    package static func make(logger: Logger) -> ProxyLauncher {
        { spec in try await ProxyHost.start(spec, logger: logger) }
    }
}

extension HostedProxy: ControlledProxy {}
