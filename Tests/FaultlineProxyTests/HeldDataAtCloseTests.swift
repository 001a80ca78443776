import FaultlineCore
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import Logging
import NIOCore
import NIOPosix
import Testing

/// A proxy that closes its connections itself (a shutdown once its grace is over, which
/// is also how `serve` deletes or disables a proxy) closes them at once, even while a
/// delay or bandwidth rule holds data: what is held is discarded and counted as
/// dropped, so the books balance and nothing waits for a delay the close made moot.
@Suite(.timeLimit(.minutes(1)))
struct HeldDataAtCloseTests {
    /// Long enough that a shutdown ending after it cannot pass by accident.
    static let held = Duration.seconds(60)
    /// What a shutdown may take at most, on a loaded machine, and still be "at once".
    static let promptly = Duration.seconds(15)

    static func plan(_ fault: String) throws -> FaultPlan {
        let text = """
            faultline: 1
            name: held
            description: data held when the proxy closes
            rules:
              - {name: slow, match: {direction: downstream}, fault: \(fault)}

            """
        return FaultPlan(profile: try ProfileLoader(library: []).load(text: text, file: "held.yaml"), seed: 1)
    }

    static let faults: [String] = [
        "{kind: delay, latency: 60s}",
        // 1 byte/s: the 4 KiB echo below would take over an hour.
        "{kind: bandwidth, bytes_per_second: 1}",
    ]

    /// The echo of a request is held by the rule when the proxy shuts down with no
    /// grace: the shutdown returns long before the held data was due, the client gets
    /// none of it, and `conn_close` counts it as dropped downstream.
    @Test(arguments: Self.faults)
    func aShutdownDoesNotWaitForHeldData(fault: String) async throws {
        let echo = try await TestServer.echo()
        let events = AwaitableEventSink()
        let (proxy, port) = try await startTestProxy(upstreamPort: echo.port, events: events, faults: try Self.plan(fault))
        let request = String(repeating: "h", count: 4096)
        let client = Task { try await SocketClient.exchange(port: port, request: request, limit: .seconds(120)) }
        // The echo has been read from the upstream and decided: the rule holds it.
        _ = try await withTimeout(.seconds(30)) {
            try await events.first { $0.type == .fault && $0.rule == "slow" && $0.direction == .downstream }
        }
        let clock = ContinuousClock()
        let started = clock.now
        await proxy.shutdown(grace: .zero)
        let took = clock.now - started
        #expect(took < Self.promptly, "the shutdown waited \(took) for data a rule held")

        let ending = try await withTimeout(.seconds(30)) { try await client.value }
        #expect(ending.received.count < request.utf8.count, "the held reply is discarded, not delivered: \(ending)")
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.reason == "shutdown" && close.closedBy == "proxy")
        // What the proxy read of the echo, less the little that left before the
        // shutdown, was held: all of it is dropped.
        let read = try #require(close.bytesFromUpstream)
        #expect(read > 0 && close.bytesToClient == ending.received.utf8.count, "\(close)")
        #expect(close.droppedDownstream == read - ending.received.utf8.count, "\(close)")
        #expect(Accounting.check(events.events) == [])
        #expect(events.events.last?.type == .proxyStop)
        await echo.stop()
    }

    /// With a grace period, a connection whose data is held is closed when the grace
    /// is over, not when the held data would have left.
    @Test func aShutdownClosesHeldConnectionsAtTheEndOfItsGrace() async throws {
        let echo = try await TestServer.echo()
        let events = AwaitableEventSink()
        let (proxy, port) = try await startTestProxy(upstreamPort: echo.port, events: events, faults: try Self.plan(Self.faults[0]))
        let client = Task { try await SocketClient.exchange(port: port, request: "held", limit: .seconds(120)) }
        _ = try await withTimeout(.seconds(30)) {
            try await events.first { $0.type == .fault && $0.rule == "slow" && $0.direction == .downstream }
        }
        let clock = ContinuousClock()
        let started = clock.now
        await proxy.shutdown(grace: .seconds(1))
        let took = clock.now - started
        #expect(took >= .seconds(1), "the connection had its grace")
        #expect(took < Self.promptly, "the shutdown waited \(took) for data a rule held")
        let ending = try await withTimeout(.seconds(30)) { try await client.value }
        #expect(ending.received == "")
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.reason == "shutdown" && close.droppedDownstream == 4 && close.bytesToClient == 0, "\(close)")
        #expect(Accounting.check(events.events) == [])
        await echo.stop()
    }
}
