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

    private var sizes = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: Self.kept, maximum: Self.largest)

    func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        self.sizes.buffer(allocator: allocator)
    }

    /// A size while the next read fits the kept buffer. Nil once reads outgrow it:
    /// with `record` answering that reads may grow, NIO then allocates afresh.
    func nextBufferSize() -> Int? {
        guard let next = self.sizes.nextBufferSize(), next <= Self.kept else { return nil }
        return next
    }

    mutating func record(actualReadBytes: Int) -> Bool {
        _ = self.sizes.record(actualReadBytes: actualReadBytes)
        return true
    }
}
