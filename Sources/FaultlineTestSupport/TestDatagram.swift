import NIOCore
import NIOPosix

/// UDP sockets for tests, bound to `127.0.0.1:0`, and numbered datagrams.
///
/// Tests read the port the kernel chose and never pick one. A numbered datagram
/// carries its sequence number in its first eight bytes (big endian), then a tag byte
/// and filler, so a receiver sees loss, duplication and reordering directly.
package enum TestDatagram {
    package typealias Envelope = AddressedEnvelope<ByteBuffer>
    package typealias Socket = NIOAsyncChannel<Envelope, Envelope>

    /// A socket on `host:0` (a loopback address; `127.0.0.1` unless a test needs a
    /// client at another address) that reads whole datagrams of any size.
    package static func bind(
        host: String = "127.0.0.1",
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> Socket {
        try await DatagramBootstrap(group: group)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
            .bind(host: host, port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Socket(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// `127.0.0.1:port`.
    package static func loopback(_ port: Int) throws -> SocketAddress {
        try SocketAddress(ipAddress: "127.0.0.1", port: port)
    }

    /// A datagram of `size` bytes (at least 9) carrying `number` and `tag`.
    package static func numbered(_ number: UInt64, tag: UInt8 = 0, size: Int = 32) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(number)
        buffer.writeInteger(tag)
        let filler = max(0, size - 9)
        buffer.writeRepeatingByte(UInt8(truncatingIfNeeded: number &* 31 &+ 7), count: filler)
        return buffer
    }

    /// The number a `numbered` datagram carries.
    package static func number(of buffer: ByteBuffer) -> UInt64? {
        buffer.getInteger(at: buffer.readerIndex, as: UInt64.self)
    }

    /// The tag a `numbered` datagram carries.
    package static func tag(of buffer: ByteBuffer) -> UInt8? {
        buffer.getInteger(at: buffer.readerIndex + 8, as: UInt8.self)
    }
}

/// A UDP server on `127.0.0.1:0` that sends every datagram back to its sender.
package final class TestDatagramEcho: Sendable {
    package let port: Int
    private let channel: TestDatagram.Socket
    private let loop: Task<Void, Never>

    private init(channel: TestDatagram.Socket) {
        self.channel = channel
        self.port = channel.channel.localAddress?.port ?? 0
        self.loop = Task {
            try? await channel.executeThenClose { inbound, outbound in
                for try await envelope in inbound {
                    try await outbound.write(envelope)
                }
            }
        }
    }

    package static func start(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> TestDatagramEcho {
        TestDatagramEcho(channel: try await TestDatagram.bind(group: group))
    }

    package func stop() async {
        self.loop.cancel()
        try? await self.channel.channel.close()
    }
}
