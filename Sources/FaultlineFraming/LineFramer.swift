import FaultlineCore
import NIOCore

/// Newline-delimited messages: each message ends with, and includes, its `\n`.
///
///     read:    | PING\r\nPI | NG\r\n |
///     units:   | PING\r\n | PING\r\n |
///
/// A `\r` before the `\n` stays in the message; a last line without a newline is a
/// message when the input ends. A line longer than `maxMessageBytes` makes the rest of
/// the connection raw.
package struct LineFramer: MessageFramer {
    private let role: MessageInfo.Role
    private let limits: FramingLimits
    /// Where to resume looking for `\n`: everything before it has been searched.
    private var searchedUpTo = 0
    private var fallback: String?

    package init(role: MessageInfo.Role, limits: FramingLimits = FramingLimits()) {
        self.role = role
        self.limits = limits
    }

    package mutating func decode(buffer: inout ByteBuffer) -> FramingStep {
        if let fallback = self.fallback { return .raw(reason: fallback) }
        guard let newline = buffer.offsetOfNewline(from: self.searchedUpTo) else {
            self.searchedUpTo = buffer.readableBytes
            if buffer.readableBytes > self.limits.maxMessageBytes {
                return self.fail("a line longer than the \(self.limits.maxMessageBytes)-byte message limit")
            }
            return .needMoreData
        }
        guard newline + 1 <= self.limits.maxMessageBytes else {
            return self.fail("a line of \(newline + 1) bytes exceeds the \(self.limits.maxMessageBytes)-byte message limit")
        }
        self.searchedUpTo = 0
        return self.take(newline + 1, from: &buffer)
    }

    package mutating func decodeLast(buffer: inout ByteBuffer) -> (bytes: ByteBuffer, info: MessageInfo)? {
        guard self.fallback == nil, buffer.readableBytes > 0 else { return nil }
        guard case .message(let bytes, let info) = self.take(buffer.readableBytes, from: &buffer) else { return nil }
        return (bytes, info)
    }

    private mutating func take(_ length: Int, from buffer: inout ByteBuffer) -> FramingStep {
        guard let bytes = buffer.readSlice(length: length) else { return .needMoreData }
        var info = MessageInfo(role: self.role)
        if self.role == .request { info.fingerprint = RequestFingerprint.of(bytes) }
        return .message(bytes: bytes, info: info)
    }

    private mutating func fail(_ reason: String) -> FramingStep {
        self.fallback = reason
        return .raw(reason: reason)
    }
}
