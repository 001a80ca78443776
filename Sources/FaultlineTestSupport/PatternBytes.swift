import FaultlineCore
import Crypto
import NIOCore

/// A reproducible stream of pseudo-random bytes, produced in chunks, with the SHA-256 of
/// everything produced so far. Two streams with the same seed are equal.
package struct PatternBytes {
    private var random: SplitMix64
    private var hasher = SHA256()
    package private(set) var produced = 0
    package let total: Int

    package init(seed: UInt64, total: Int) {
        self.random = SplitMix64(seed: seed)
        self.total = total
    }

    /// The next chunk of at most `size` bytes, or nil when `total` bytes were produced.
    package mutating func next(size: Int = 64 * 1024) -> ByteBuffer? {
        let count = min(size, self.total - self.produced)
        guard count > 0 else { return nil }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(count)
        let words = (count + 7) / 8
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: words * 8) { raw in
            let pointer = raw.bindMemory(to: UInt64.self)
            for index in 0..<words {
                pointer[index] = self.random.next()
            }
            return count
        }
        buffer.withUnsafeReadableBytes { self.hasher.update(bufferPointer: $0) }
        self.produced += count
        return buffer
    }

    /// SHA-256 of all bytes produced so far.
    package var digest: [UInt8] {
        Array(self.hasher.finalize())
    }
}

/// SHA-256 over chunks as they arrive.
package struct StreamDigest {
    private var hasher = SHA256()
    package private(set) var count = 0

    package init() {}

    package mutating func update(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { self.hasher.update(bufferPointer: $0) }
        self.count += buffer.readableBytes
    }

    package var digest: [UInt8] {
        Array(self.hasher.finalize())
    }
}
