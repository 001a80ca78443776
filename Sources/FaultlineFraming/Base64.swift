import NIOCore

/// Standard base64 with padding (RFC 4648 §4), for `payload` in `message` events.
/// FaultlineFraming stays free of Foundation, so it encodes by hand.
package enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    package static func encode(_ buffer: ByteBuffer) -> String {
        buffer.withUnsafeReadableBytes { bytes in
            var output: [UInt8] = []
            output.reserveCapacity((bytes.count + 2) / 3 * 4)
            var index = 0
            while index + 3 <= bytes.count {
                let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
                output.append(Self.alphabet[Int(value >> 18 & 63)])
                output.append(Self.alphabet[Int(value >> 12 & 63)])
                output.append(Self.alphabet[Int(value >> 6 & 63)])
                output.append(Self.alphabet[Int(value & 63)])
                index += 3
            }
            let rest = bytes.count - index
            if rest > 0 {
                let second = rest == 2 ? UInt32(bytes[index + 1]) : 0
                let value = UInt32(bytes[index]) << 16 | second << 8
                output.append(Self.alphabet[Int(value >> 18 & 63)])
                output.append(Self.alphabet[Int(value >> 12 & 63)])
                output.append(rest == 2 ? Self.alphabet[Int(value >> 6 & 63)] : UInt8(ascii: "="))
                output.append(UInt8(ascii: "="))
            }
            return String(decoding: output, as: UTF8.self)
        }
    }
}
