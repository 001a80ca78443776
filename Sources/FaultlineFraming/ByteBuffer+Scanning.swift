import NIOCore

extension ByteBuffer {
    /// Offset from the reader index of the first `\n` at or after `offset`, or nil.
    func offsetOfNewline(from offset: Int) -> Int? {
        self.withUnsafeReadableBytes { raw in
            guard offset < raw.count else { return nil }
            return raw[offset...].firstIndex(of: UInt8(ascii: "\n"))
        }
    }

    /// The byte at `offset` from the reader index, or nil past the end.
    func byte(at offset: Int) -> UInt8? {
        guard offset >= 0, offset < self.readableBytes else { return nil }
        return self.getInteger(at: self.readerIndex + offset, as: UInt8.self)
    }

    /// The bytes in `range` (offsets from the reader index) as an array.
    func bytes(in range: Range<Int>) -> [UInt8] {
        self.getBytes(at: self.readerIndex + range.lowerBound, length: range.count) ?? []
    }

    /// The line `start..<newline` without its `\r`, as bytes.
    func line(from start: Int, newline: Int) -> [UInt8] {
        var end = newline
        if end > start, self.byte(at: end - 1) == UInt8(ascii: "\r") { end -= 1 }
        return self.bytes(in: start..<end)
    }
}
