import FaultlineCore
import FaultlineTestSupport
import NIOCore
import NIOEmbedded
import NIOConcurrencyHelpers
import NIOPosix
import Testing

@testable import FaultlineProxy

/// Connection ordinals follow the order the listener accepted the connections, not the
/// order their event loops took them up: `match.connections` and every seeded fault
/// decision depend on them.
@Suite(.timeLimit(.minutes(1)))
struct AcceptOrderTests {
    /// Notes the ordinal of each child that becomes active.
    final class ActiveRecorder: ChannelInboundHandler {
        typealias InboundIn = Never
        let ordinal: UInt64
        let activated: NIOLockedValueBox<[UInt64]>
        init(ordinal: UInt64, activated: NIOLockedValueBox<[UInt64]>) {
            self.ordinal = ordinal
            self.activated = activated
        }
        func channelActive(context: ChannelHandlerContext) {
            self.activated.withLockedValue { $0.append(self.ordinal) }
            context.fireChannelActive()
        }
    }

    /// Each child is set up on its loop with the ordinal it was accepted with, then
    /// made active; one whose set-up throws is closed and never made active.
    @Test func eachChildIsSetUpWithItsAcceptOrdinalThenMadeActive() throws {
        let children = (0..<3).map { _ in EmbeddedChannel() }
        let setUp = NIOLockedValueBox<[UInt64]>([])
        let activated = NIOLockedValueBox<[UInt64]>([])
        let order = Acceptor { child, ordinal in
            setUp.withLockedValue { $0.append(ordinal) }
            guard ordinal != 1 else { throw ChannelError.operationUnsupported }
            try child.pipeline.syncOperations.addHandler(ActiveRecorder(ordinal: ordinal, activated: activated))
        }
        let listener = EmbeddedChannel(handler: order)
        for child in children {
            try listener.writeInbound(child as any Channel)
        }
        // Nothing is read on: the children are taken, not passed to NIO's accept handler.
        #expect(try listener.readInbound(as: (any Channel).self) == nil)
        // Taken up on their loops in another order, as two event loops may.
        for index in [2, 0, 1] { children[index].embeddedEventLoop.run() }
        #expect(setUp.withLockedValue { $0 } == [2, 0, 1])
        #expect(activated.withLockedValue { $0 } == [2, 0])
        #expect(children.map(\.isActive) == [true, false, true], "the child whose set-up threw is closed, never active")
        _ = try listener.finish()
        for index in [0, 2] { _ = try children[index].finish() }
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
