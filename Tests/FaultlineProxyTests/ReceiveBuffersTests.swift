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

    /// Reads are sized as NIO's adaptive allocator sizes them (from 512 bytes, between 64
    /// and 256 KiB), over a mixed run of small, full and bulk reads.
    @Test func readsAreSizedAsTheAdaptiveAllocatorSizesThem() {
        var ours = ReceiveBuffers()
        var nio = AdaptiveRecvByteBufferAllocator(minimum: ReceiveBuffers.smallest, initial: ReceiveBuffers.kept, maximum: ReceiveBuffers.largest)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15  // a fixed pseudo-random run
        func next(upTo limit: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(limit + 1))
        }
        for step in 0..<5_000 {
            let size = nio.nextBufferSize()!
            #expect(ours.buffer(allocator: ByteBufferAllocator()).capacity >= size)
            let read: Int
            switch step % 200 {
            case 0..<60: read = size  // bulk: every read fills its buffer
            case 60..<120: read = next(upTo: 40)
            default: read = next(upTo: size)
            }
            _ = nio.record(actualReadBytes: read)
            let mayGrow = ours.record(actualReadBytes: read)
            #expect(mayGrow)
            let expected = nio.nextBufferSize()!
            #expect(ours.nextBufferSize() == (expected <= ReceiveBuffers.kept ? expected : nil), "step \(step)")
            if ours.nextBufferSize() == nil { #expect(ours.buffer(allocator: ByteBufferAllocator()).capacity == expected) }
        }
    }

    /// NIO keeps each channel's allocator as an existential, which stores three words
    /// in place: anything larger costs every channel a boxed copy (about 56 bytes).
    @Test func fitsInAnExistentialWithoutABox() {
        #expect(MemoryLayout<ReceiveBuffers>.size <= 3 * MemoryLayout<Int>.size)
        #expect(MemoryLayout<ReceiveBuffers>.alignment <= MemoryLayout<Int>.alignment)
    }
}
