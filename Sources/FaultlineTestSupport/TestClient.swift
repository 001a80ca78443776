import FaultlineProxy
import NIOCore
import NIOPosix

/// Connects test clients to `127.0.0.1`.
package enum TestClient {
    package typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// A connection whose outbound writer half-closes when finished.
    package static func connect(
        port: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> Connection {
        try await ClientBootstrap(group: group)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(GracefulCloseHandler())
                    return try Connection(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
    }

    /// Reads until EOF and returns everything read.
    package static func readAll(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>) async throws -> ByteBuffer {
        var all = ByteBuffer()
        for try await var chunk in inbound {
            all.writeBuffer(&chunk)
        }
        return all
    }

    /// Reads until at least `count` bytes arrived (or EOF) and returns them.
    package static func read(
        atLeast count: Int,
        from iterator: inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    ) async throws -> ByteBuffer {
        var all = ByteBuffer()
        while all.readableBytes < count, var chunk = try await iterator.next() {
            all.writeBuffer(&chunk)
        }
        return all
    }
}
