import FaultlineCore
import FaultlineTestSupport
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import FaultlineProxy

/// A host-name upstream may resolve to several addresses, and NIO's Happy Eyeballs runs
/// a bootstrap's initializer for every attempt. The proxy's handlers are made once per
/// connection, so they must go only into the attempt that connected: before, an attempt
/// refused first unhooked them on its teardown, and every connection through a name
/// such as `localhost` (`::1` refused, then 127.0.0.1) hung.
struct UpstreamDialerTests {
    /// Answers every name with the same addresses, in order; no IPv6.
    final class FixedResolver: Resolver, Sendable {
        let loop: any EventLoop
        let addresses: [SocketAddress]

        init(loop: any EventLoop, addresses: [SocketAddress]) {
            self.loop = loop
            self.addresses = addresses
        }

        func initiateAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> {
            self.loop.makeSucceededFuture(self.addresses)
        }

        func initiateAAAAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> {
            self.loop.makeSucceededFuture([])
        }

        func cancelQueries() {}
    }

    /// One handler instance, as the proxy's are: counts the pipelines it joins and
    /// leaves, and passes on what it reads.
    final class SharedHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let counts = Mutex((added: 0, removed: 0))
        let reads: AsyncStream<String>.Continuation
        let received: AsyncStream<String>

        init() {
            (self.received, self.reads) = AsyncStream.makeStream(of: String.self)
        }

        func handlerAdded(context: ChannelHandlerContext) {
            self.counts.withLock { $0.added += 1 }
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            self.counts.withLock { $0.removed += 1 }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.reads.yield(String(buffer: Self.unwrapInboundIn(data)))
        }
    }

    @Test func anAddressThatRefusesIsSkippedAndOnlyTheConnectedChannelGetsTheHandlers() async throws {
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                for try await chunk in inbound { try await outbound.write(chunk) }
            }
        }
        // A port nothing listens on: bound, then closed.
        let closed = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let refusing = try #require(closed.localAddress)
        try await closed.close()

        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let serving = try SocketAddress(ipAddress: "127.0.0.1", port: server.port)
        let dialer = UpstreamDialer(
            upstream: HostPort(host: "upstream.test", port: server.port), connectTimeout: .seconds(30),
            resolver: FixedResolver(loop: loop, addresses: [refusing, serving])
        )
        let handler = SharedHandler()
        let channel = try await dialer.connect(on: loop) { channel in
            try channel.pipeline.syncOperations.addHandler(handler)
        }.get()

        #expect(channel.remoteAddress == serving)
        let counts = handler.counts.withLock { $0 }
        #expect(counts.added == 1, "the handler joined \(counts.added) pipelines")
        #expect(counts.removed == 0, "a refused attempt took the handler out")
        // Reads were turned on once the handler was in.
        try await channel.writeAndFlush(ByteBuffer(string: "ping"))
        let echoed = try await withTimeout(.seconds(30)) { () async -> String? in
            var iterator = handler.received.makeAsyncIterator()
            return await iterator.next()
        }
        #expect(echoed == "ping")
        try await channel.close()
        await server.stop()
    }
}
