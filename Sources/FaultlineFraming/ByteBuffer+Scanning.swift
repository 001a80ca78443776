import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension ByteBuffer {
    /// Offset from the reader index of the first `\n` at or after `offset`, or nil.
    func offsetOfNewline(from offset: Int) -> Int? {
        self.withUnsafeReadableBytes { $0.offsetOfNewline(from: offset) }
    }

    /// The byte at `offset` from the reader index, or nil past the end.
    func byte(at offset: Int) -> UInt8? {
        self.withUnsafeReadableBytes { offset >= 0 && offset < $0.count ? $0[offset] : nil }
    }

    /// The bytes in `range` (offsets from the reader index) as an array.
    func bytes(in range: Range<Int>) -> [UInt8] {
        self.withUnsafeReadableBytes { raw in
            range.lowerBound >= 0 && range.upperBound <= raw.count ? Array(raw[range]) : []
        }
    }

    /// The line `start..<newline` without its `\r`, as bytes.
    func line(from start: Int, newline: Int) -> [UInt8] {
        var end = newline
        if end > start, self.byte(at: end - 1) == UInt8(ascii: "\r") { end -= 1 }
        return self.bytes(in: start..<end)
    }
}

extension UnsafeRawBufferPointer {
    /// The same reading API as the `ByteBuffer` helpers, for framers that parse in place.
    var readableBytes: Int { self.count }

    func byte(at offset: Int) -> UInt8? {
        offset >= 0 && offset < self.count ? self[offset] : nil
    }

    func bytes(in range: Range<Int>) -> [UInt8] {
        range.lowerBound >= 0 && range.upperBound <= self.count ? Array(self[range]) : []
    }

    func line(from start: Int, newline: Int) -> [UInt8] {
        var end = newline
        if end > start, self.byte(at: end - 1) == UInt8(ascii: "\r") { end -= 1 }
        return self.bytes(in: start..<end)
    }

    /// Index of the first `\n` at or after `offset`, or nil (memchr: framing's hot loop).
    func offsetOfNewline(from offset: Int) -> Int? {
        guard offset >= 0, offset < self.count, let base = self.baseAddress else { return nil }
        guard let found = memchr(base + offset, Int32(UInt8(ascii: "\n")), self.count - offset) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }
}
