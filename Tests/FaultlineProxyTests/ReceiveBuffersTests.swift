@testable import FaultlineProxy
import NIOCore
import Testing

/// `ReceiveBuffers` in NIO's own receive-buffer pool, read from the way a stream
/// channel reads with `ProxiedChannel.readsPerWakeUp`.
struct ReceiveBuffersTests {
    /// A channel's pool and a read that brings up to `size` bytes, as a socket would.
    struct Reader {
        var pool = NIOPooledRecvBufferAllocator(capacity: Int(ProxiedChannel.readsPerWakeUp), recvAllocator: ReceiveBuffers())
        var fill: UInt8 = 0

        /// Reads `size` bytes, or as many as the buffer takes, each byte `fill`.
        mutating func read(_ size: Int) -> ByteBuffer {
            self.fill &+= 1
            let fill = self.fill
            let (buffer, count) = self.pool.buffer(allocator: ByteBufferAllocator()) { buffer in
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { space in
                    let count = min(size, space.count)
                    space.prefix(count).initializeMemory(as: UInt8.self, repeating: fill)
                    return count
                }
            }
            self.pool.record(actualReadBytes: count)
            return buffer
        }
    }

    /// After bulk data (reads filling buffers up to 256 KiB) the buffer read into is the
    /// small kept one again, not one as large as the reads grew: NIO's adaptive
    /// allocator alone would read into a 256 KiB buffer from then on.
    @Test func afterBulkDataSmallReadsUseTheSmallBufferAgain() {
        var reader = Reader()
        var largest = 0
        for _ in 0..<64 {
            let buffer = reader.read(1 << 20)
            largest = max(largest, buffer.readableBytes)
        }
        #expect(largest == ReceiveBuffers.largest, "bulk reads grew to \(largest) bytes")
        var capacities: [Int] = []
        for _ in 0..<30 { capacities.append(reader.read(100).capacity) }
        #expect(capacities.suffix(4).allSatisfy { $0 <= ReceiveBuffers.kept }, "small reads went into buffers of \(capacities)")
        #expect(reader.pool.count == 1)
    }

    /// Small reads reuse one buffer, as NIO's pool always did: no allocation per request.
    @Test func smallReadsReuseOneBuffer() {
        var reader = Reader()
        // Written on at once: nothing holds the first buffer afterwards.
        let firstAddress = reader.read(100).withUnsafeReadableBytes { $0.baseAddress }
        for _ in 0..<10 {
            let buffer = reader.read(200)
            #expect(buffer.withUnsafeReadableBytes { $0.baseAddress } == firstAddress)
        }
    }

    /// A buffer a handler still holds (a message being framed, a write not yet done) is
    /// never read into again: the next read gets another, and what is held is unchanged.
    @Test func aHeldBufferKeepsItsBytes() {
        var reader = Reader()
        let held = reader.read(300)
        let next = reader.read(300)
        #expect(Array(held.readableBytesView) == Array(repeating: 1, count: 300))
        #expect(Array(next.readableBytesView) == Array(repeating: 2, count: 300))
        let large = (0..<8).map { _ in reader.read(1 << 20) }
        #expect(Set(large.map { $0.readableBytesView.first! }).count == 8, "each large read kept its own bytes")
        #expect(Array(held.readableBytesView) == Array(repeating: 1, count: 300))
    }
}
