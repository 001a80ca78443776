import NIOCore

/// How a proxied TCP channel sizes its reads, and which receive buffer NIO may keep.
///
/// NIO keeps the buffer a channel reads into, to read into again once nothing else
/// holds it, for the channel's whole life and as large as it ever grew
/// (`NIOPooledRecvBufferAllocator`, which has no way to let one go). With NIO's own
/// allocators a connection that carried bulk data and then sat idle in a client's pool
/// kept about 330 KiB.
///
/// This allocator sizes reads as `AdaptiveRecvByteBufferAllocator` does, doubling after
/// each read that fills its buffer and halving after small ones, from 512 bytes up to
/// `largest`, but lets NIO reuse a buffer only while reads fit in `kept` bytes: small
/// requests and replies read into the same buffer as before, while each larger read
/// gets a fresh buffer, freed once its bytes are written on. So an idle connection keeps
/// `kept` bytes a side whatever it carried.
///
/// It needs one read per wake-up (`ProxiedChannel.readsPerWakeUp`): NIO keeps as many
/// buffers as reads per wake-up, and the fresh ones would join that pool. One read of
/// up to 256 KiB moves what NIO's four reads of up to 64 KiB did, with one write where
/// there were several: bulk data took less CPU per byte than before (bench/RESULTS.md).
struct ReceiveBuffers: RecvByteBufferAllocator {
    /// The first read's size and the largest buffer NIO keeps: the first size is what
    /// every idle connection costs, twice (client and upstream side).
    static let kept = 512

    /// The largest read: what a bulk transfer reads at each wake-up.
    static let largest = 262_144

    /// The smallest read, after a run of small ones.
    static let smallest = 64

    /// The next read's size, a power of two from `smallest` to `largest`. Only this and
    /// `shrinkNext` are stored: NIO keeps a channel's allocator as an existential, which
    /// holds up to three words in place and boxes anything larger, so NIO's own adaptive
    /// allocator (four words and a flag) cost every channel an allocation of its own.
    private var next = Self.kept
    /// A read used at most half its buffer: one more such read halves the size.
    private var shrinkNext = false

    func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        allocator.buffer(capacity: self.next)
    }

    /// A size while the next read fits the kept buffer. Nil once reads outgrow it:
    /// with `record` answering that reads may grow, NIO then allocates afresh.
    func nextBufferSize() -> Int? {
        self.next <= Self.kept ? self.next : nil
    }

    /// Sizes the next read as `AdaptiveRecvByteBufferAllocator` does: double after a
    /// read that filled its buffer, halve after two in a row that used at most half.
    mutating func record(actualReadBytes: Int) -> Bool {
        let half = self.next / 2
        if actualReadBytes <= half, half >= Self.smallest {
            if self.shrinkNext { self.next = half }
            self.shrinkNext.toggle()
        } else {
            if actualReadBytes >= self.next, self.next < Self.largest { self.next *= 2 }
            self.shrinkNext = false
        }
        return true
    }
}
