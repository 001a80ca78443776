import FaultlineProxy
import NIOCore
import NIOPosix
import Synchronization

/// A TCP server on `127.0.0.1:0` whose connections are served by an async closure.
///
/// Tests read `port` and never pick one themselves. Every accepted connection allows
/// remote half-closure, and finishing `outbound` half-closes it, so tests can watch FIN
/// travel.
package final class TestServer: Sendable {
    package typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>
    package typealias Handler = @Sendable (Connection) async throws -> Void

    private let channel: NIOAsyncChannel<Connection, Never>
    private let acceptLoop: Task<Void, Never>

    package let port: Int

    private init(channel: NIOAsyncChannel<Connection, Never>, accepted: Accepted, handler: @escaping Handler) {
        self.channel = channel
        self.port = channel.channel.localAddress?.port ?? 0
        self.acceptLoop = Task {
            try? await channel.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        accepted.taken(connection)
                        group.addTask {
                            try? await handler(connection)
                        }
                    }
                    // The listener closed (`stop`) and every connection it had accepted
                    // was taken: those still open end too.
                    group.cancelAll()
                }
            }
            // Connections accepted as the listener closed, which the loop never took.
            for connection in accepted.untaken() {
                try? await connection.executeThenClose { _, _ in }
            }
        }
    }

    /// Connections accepted and not yet taken by the accept loop, kept so none is
    /// dropped unfinished: when the listener closes, the loop's stream can end with
    /// connections still in it, and swift-nio traps on a connection whose writer was
    /// never finished (seen as "Deinited NIOAsyncWriter without calling finish()" in
    /// loaded runs, when such a connection's channel became active after it was
    /// dropped).
    final class Accepted: Sendable {
        /// Nil once the accept loop has ended: later connections are finished at once.
        private let waiting = Mutex<[ObjectIdentifier: Connection]?>([:])

        func add(_ connection: Connection) {
            let loopEnded = self.waiting.withLock { waiting in
                waiting?[ObjectIdentifier(connection.channel)] = connection
                return waiting == nil
            }
            if loopEnded {
                Task { try? await connection.executeThenClose { _, _ in } }
            }
        }

        func taken(_ connection: Connection) {
            _ = self.waiting.withLock { $0?.removeValue(forKey: ObjectIdentifier(connection.channel)) }
        }

        /// The connections never taken; from now on `add` finishes them itself.
        func untaken() -> [Connection] {
            self.waiting.withLock { waiting in
                defer { waiting = nil }
                return Array((waiting ?? [:]).values)
            }
        }
    }

    /// Starts a server; `handler` runs once per connection, concurrently.
    package static func start(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        handler: @escaping Handler
    ) async throws -> TestServer {
        let accepted = Accepted()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(GracefulCloseHandler())
                    let connection = try Connection(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                    accepted.add(connection)
                    return connection
                }
            }
        return TestServer(channel: channel, accepted: accepted, handler: handler)
    }

    /// An HTTP/1.1 server: `answer` gives each request's whole reply, in order on its
    /// connection (pipelined requests too), or nil to leave it unanswered.
    static func http(answer: @escaping @Sendable (TestHTTPRequest) async -> [UInt8]?) async throws -> TestServer {
        try await Self.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                var pending: [UInt8] = []
                for try await chunk in inbound {
                    pending += chunk.readableBytesView
                    while let request = TestHTTPRequest.take(from: &pending) {
                        guard let reply = await answer(request) else { continue }
                        try await outbound.write(ByteBuffer(bytes: reply))
                    }
                }
            }
        }
    }

    /// A server that writes back every byte it reads, then half-closes after the
    /// client's FIN.
    package static func echo(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> TestServer {
        try await Self.start(group: group) { connection in
            try await connection.executeThenClose { inbound, outbound in
                for try await chunk in inbound {
                    try await outbound.write(chunk)
                }
                try await Self.finishAfterFlush(connection, outbound)
            }
        }
    }

    /// An echo server that says, after each write reached its socket, how many bytes it
    /// has echoed on that connection in all: a test can wait until an echo is back at a
    /// proxy before it changes or stops what holds it.
    package static func echo(reporting totals: AsyncStream<Int>.Continuation) async throws -> TestServer {
        try await Self.start { connection in
            try await connection.executeThenClose { inbound, _ in
                var total = 0
                for try await chunk in inbound {
                    total += chunk.readableBytes
                    try await connection.channel.writeAndFlush(chunk)
                    totals.yield(total)
                }
            }
        }
    }

    /// Waits until an echo server made by `echo(reporting:)` says it has echoed `count`
    /// bytes (30 s at most: a guard against a hang, not a speed check).
    package static func untilEchoed(_ count: Int, in totals: AsyncStream<Int>) async throws {
        _ = try await withTimeout(.seconds(30)) {
            for await total in totals where total >= count { return total }
            return 0
        }
    }

    /// Half-closes `outbound` and waits until the channel has closed, for a handler
    /// whose input has already ended.
    ///
    /// `executeThenClose` closes the channel as soon as its body returns, and a full
    /// close discards writes NIO has not yet handed to the socket: a body that returns
    /// right after its last `write` can lose the end of what it wrote. Finishing the
    /// writer half-closes after every pending write (`FlushingHalfCloseHandler`); with
    /// the input already closed that completes the close, so awaiting `closeFuture`
    /// waits for the data to reach the socket.
    package static func finishAfterFlush<Outbound>(
        _ connection: NIOAsyncChannel<ByteBuffer, Outbound>,
        _ outbound: NIOAsyncChannelOutboundWriter<Outbound>
    ) async throws {
        outbound.finish()
        try await connection.channel.closeFuture.get()
    }

    /// Stops accepting. Connections already open run on until their handlers end.
    /// Closes the listener; the accept loop then takes what it had accepted and ends
    /// every connection. Not by cancelling the loop: a connection swift-nio had accepted
    /// but not yet handed over would be dropped with its writer unfinished, which
    /// swift-nio traps on (seen once with both cores busy).
    package func stop() async {
        try? await self.channel.channel.close()
    }
}
