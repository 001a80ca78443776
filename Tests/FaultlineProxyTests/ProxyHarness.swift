import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import FaultlineTestSupport
import Logging
import NIOCore
import NIOPosix

/// Starts a proxy on `127.0.0.1:0` in front of `upstreamPort`, runs `body` with the
/// proxy's port, then shuts the proxy down.
/// It dials for up to `testDialTimeout`.
func withProxy<T: Sendable>(
    upstreamPort: Int,
    events: any EventSink = NullEventSink(),
    faults: FaultPlan? = nil,
    framing: FramingConfiguration = .raw,
    body: (TCPProxy, Int) async throws -> T
) async throws -> T {
    let proxy = TCPProxy(
        configuration: TCPProxyConfiguration(
            name: "test",
            listen: HostPort(host: "127.0.0.1", port: 0),
            upstream: HostPort(host: "127.0.0.1", port: upstreamPort),
            connectTimeout: testDialTimeout,
            faults: faults,
            framing: framing
        ),
        group: MultiThreadedEventLoopGroup.singleton,
        events: events,
        logger: Logger(label: "faultline.test", factory: { _ in SwiftLogNoOpLogHandler() })
    )
    let address = try await proxy.start()
    do {
        let result = try await body(proxy, address.port!)
        await proxy.shutdown(grace: .seconds(1))
        return result
    } catch {
        await proxy.shutdown(grace: .zero)
        throw error
    }
}
