import FaultlineCore
import NIOCore

/// Length-prefixed messages; each message is its prefix and the bytes it counts.
///
///     prefix 2, big endian:   | 00 03 a b | c 00 01 z |
///     units:                  | 00 03 a b c | 00 01 z |
///
/// A length beyond `maxMessageBytes`, or (counting itself) shorter than the prefix,
/// makes the rest of the connection raw.
package struct LengthFramer: MessageFramer {
    private let prefix: LengthPrefix
    private let role: MessageInfo.Role
    private let limits: FramingLimits
    private var fallback: String?

    package init(prefix: LengthPrefix, role: MessageInfo.Role, limits: FramingLimits = FramingLimits()) {
        self.prefix = prefix
        self.role = role
        self.limits = limits
    }

    package mutating func decode(buffer: inout ByteBuffer) -> FramingStep {
        if let fallback = self.fallback { return .raw(reason: fallback) }
        guard let declared = self.declaredLength(in: buffer) else { return .needMoreData }
        let width = UInt64(self.prefix.width)
        let total: UInt64
        if self.prefix.includesPrefix {
            guard declared >= width else {
                return self.fail("length prefix \(declared) is shorter than the \(width)-byte prefix that it counts")
            }
            total = declared
        } else {
            let (sum, overflow) = declared.addingReportingOverflow(width)
            guard !overflow else { return self.fail("length prefix \(declared) is out of range") }
            total = sum
        }
        guard total <= UInt64(self.limits.maxMessageBytes) else {
            return self.fail("a message of \(total) bytes exceeds the \(self.limits.maxMessageBytes)-byte message limit")
        }
        guard buffer.readableBytes >= Int(total), let bytes = buffer.readSlice(length: Int(total)) else {
            return .needMoreData
        }
        var info = MessageInfo(role: self.role)
        if self.role == .request { info.fingerprint = RequestFingerprint.of(bytes) }
        return .message(bytes: bytes, info: info)
    }

    private func declaredLength(in buffer: ByteBuffer) -> UInt64? {
        let endianness: Endianness = self.prefix.endianness == .big ? .big : .little
        let at = buffer.readerIndex
        switch self.prefix.width {
        case 1: return buffer.getInteger(at: at, as: UInt8.self).map(UInt64.init)
        case 2: return buffer.getInteger(at: at, endianness: endianness, as: UInt16.self).map(UInt64.init)
        case 4: return buffer.getInteger(at: at, endianness: endianness, as: UInt32.self).map(UInt64.init)
        default: return buffer.getInteger(at: at, endianness: endianness, as: UInt64.self)
        }
    }

    private mutating func fail(_ reason: String) -> FramingStep {
        self.fallback = reason
        return .raw(reason: reason)
    }
}
