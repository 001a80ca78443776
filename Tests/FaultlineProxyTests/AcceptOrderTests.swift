import FaultlineCore
import FaultlineTestSupport
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import FaultlineProxy

/// Connection ordinals follow the order the listener accepted the connections, not the
/// order their event loops took them up: `match.connections` and every seeded fault
/// decision depend on them.
@Suite(.timeLimit(.minutes(1)))
struct AcceptOrderTests {
    @Test func ordinalsFollowAcceptOrderWhateverOrderTheyAreAskedFor() throws {
        let order = AcceptOrder()
        let listener = EmbeddedChannel(handler: order)
        let children = (0..<5).map { _ in EmbeddedChannel() }
        for child in children {
            try listener.writeInbound(child as any Channel)
        }
        // Taken up in a different order, as two event loops may.
        #expect([3, 0, 4, 1, 2].map { order.ordinal(of: children[$0]) } == [3, 0, 4, 1, 2])
        // Each channel is asked once; one the listener never saw gets the next number.
        #expect(order.ordinal(of: EmbeddedChannel()) == 5)
        _ = try listener.finish()
    }

    /// Clients that connect one after another get ordinals in that order, on a proxy
    /// with more than one event loop.
    @Test func sequentialClientsGetOrdinalsInTheirOrder() async throws {
        let echo = try await TestServer.echo()
        let events = AwaitableEventSink()
        let count = 200
        try await withProxy(upstreamPort: echo.port, events: events) { _, port in
            var clients: [any Channel] = []
            for _ in 0..<count {
                clients.append(try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get())
            }
            let opened = try await withTimeout(.seconds(30)) {
                var opened: [Event] = []
                for ordinal in 0..<UInt64(count) {
                    opened.append(try await events.first { $0.type == .connectionOpen && $0.conn == ordinal })
                }
                return opened
            }
            let portByOrdinal = Dictionary(uniqueKeysWithValues: opened.compactMap { event -> (UInt64, Int)? in
                guard let conn = event.conn, let port = event.client?.split(separator: ":").last.flatMap({ Int($0) }) else { return nil }
                return (conn, port)
            })
            let clientPorts = clients.map { $0.localAddress?.port ?? -1 }
            #expect((0..<count).map { portByOrdinal[UInt64($0)] ?? -1 } == clientPorts)
            for client in clients { try? await client.close() }
        }
        await echo.stop()
    }
}
