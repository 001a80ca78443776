import NIOCore

extension ByteBuffer {
    /// A copy that owns exactly its bytes. NIO reads each datagram into a 64 KiB buffer
    /// and reads into it again only once nothing else holds it; a datagram kept past its
    /// read (held by a fault, queued for the end of the tick's flush) is kept as this
    /// copy, so it never pins, or makes NIO keep, another 64 KiB.
    func compacted() -> ByteBuffer {
        if self.storageCapacity == self.readableBytes { return self }
        var copy = ByteBufferAllocator().buffer(capacity: self.readableBytes)
        copy.writeImmutableBuffer(self)
        return copy
    }
}
