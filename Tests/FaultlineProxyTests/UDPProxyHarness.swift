import FaultlineCore
import FaultlineProxy
import FaultlineTestSupport
import Logging
import NIOCore
import NIOPosix

/// Starts a UDP proxy on `127.0.0.1:0` in front of `upstreamPort`, runs `body` with the
/// proxy and its address, then shuts the proxy down.
func withUDPProxy<T: Sendable>(
    upstreamPort: Int,
    rules: [DatagramFaultRule] = [],
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
            rules: rules,
            seed: seed
        ),
        group: MultiThreadedEventLoopGroup.singleton,
        events: events,
        logger: Logger(label: "faultline.test", factory: { _ in SwiftLogNoOpLogHandler() })
    )
    let address = try await proxy.start()
    do {
        let result = try await body(proxy, address)
        await proxy.shutdown()
        return result
    } catch {
        await proxy.shutdown()
        throw error
    }
}
