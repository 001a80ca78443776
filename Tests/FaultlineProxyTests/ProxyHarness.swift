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
    let (proxy, port) = try await startTestProxy(upstreamPort: upstreamPort, events: events, faults: faults, framing: framing)
    do {
        let result = try await body(proxy, port)
        await proxy.shutdown(grace: .seconds(1))
        return result
    } catch {
        await proxy.shutdown(grace: .zero)
        throw error
    }
}

/// A proxy started on `127.0.0.1:0` in front of `upstreamPort`, and its port; the test
/// stops it (`withProxy` does both).
func startTestProxy(
    upstreamPort: Int,
    events: any EventSink = NullEventSink(),
    faults: FaultPlan? = nil,
    framing: FramingConfiguration = .raw
) async throws -> (TCPProxy, Int) {
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
    return (proxy, address.port!)
}

/// What a test's server says once it has read its peer's whole stream, for the body of
/// `withProxy` to await before it returns.
///
/// Returning from the body stops the proxy, with a short grace, and the client can be
/// done before the server is: once it has sent everything and read the server's FIN
/// (which does not wait for the server's reading), the proxy may still be writing the
/// tail of the client's bytes to a slow server. Stopping then cuts the upstream leg, and
/// the server sees a short stream. Awaiting the server's report inside the body keeps the
/// proxy up until the server has read everything.
final class ServerReports<Value: Sendable>: Sendable {
    private let stream: AsyncStream<Value>
    private let continuation: AsyncStream<Value>.Continuation

    init() {
        (self.stream, self.continuation) = AsyncStream<Value>.makeStream()
    }

    /// Called by the server's handler once it has read to the end of its input.
    func send(_ value: Value) {
        self.continuation.yield(value)
    }

    /// The server's next report, awaited for at most `limit`: a bound against a hang
    /// (a server that never reports), not a wait.
    func next(within limit: Duration = .seconds(60)) async throws -> Value {
        let stream = self.stream
        return try await withTimeout(limit) {
            var iterator = stream.makeAsyncIterator()
            guard let value = await iterator.next() else { throw CancellationError() }
            return value
        }
    }
}
