import Crypto
import NIOCore

/// A stable digest that groups retries of one request: SHA-256, hex, first 32 digits
/// (128 bits).
///
/// HTTP hashes method, target and the body's content (chunk framing removed, so a retry
/// chunked differently still matches); other protocols hash the message's bytes. The
/// parts are separated by a NUL so `("GET", "/ab")` and `("GETa", "/b")` differ.
struct RequestFingerprint {
    static let hexDigits = 32
    private static let digits = Array("0123456789abcdef".utf8)
    private var hasher = SHA256()

    init() {}

    mutating func update(_ text: String) {
        var text = text
        text.withUTF8 { self.hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        withUnsafeBytes(of: UInt8(0)) { self.hasher.update(bufferPointer: $0) }
    }

    mutating func update(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { self.hasher.update(bufferPointer: $0) }
    }

    /// Hashes `length` bytes at `offset` from the reader index of `buffer`.
    mutating func update(_ buffer: ByteBuffer, offset: Int, length: Int) {
        guard length > 0, let slice = buffer.getSlice(at: buffer.readerIndex + offset, length: length) else { return }
        self.update(slice)
    }

    /// Written into the string's own storage: every request is fingerprinted, and an
    /// array built first and then decoded cost as much again.
    func finalize() -> String {
        let digest = self.hasher.finalize()
        return digest.withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: Self.hexDigits) { hex in
                for index in 0..<(Self.hexDigits / 2) {
                    hex[2 * index] = Self.digits[Int(bytes[index] >> 4)]
                    hex[2 * index + 1] = Self.digits[Int(bytes[index] & 0x0F)]
                }
                return Self.hexDigits
            }
        }
    }

    /// The fingerprint of a message's whole bytes.
    static func of(_ buffer: ByteBuffer) -> String {
        var fingerprint = RequestFingerprint()
        fingerprint.update(buffer)
        return fingerprint.finalize()
    }
}

/// The fingerprint of a whole message's bytes (a UDP datagram), as framers compute it
/// for protocols without structure: equal bytes, equal fingerprint.
package enum MessageFingerprint {
    package static func of(_ buffer: ByteBuffer) -> String {
        RequestFingerprint.of(buffer)
    }
}
