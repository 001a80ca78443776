import FaultlineCore
import NIOCore

/// No framing: whatever has been read is one unit.
///
///     read:   | abc | defgh |
///     units:  | abc | defgh |
///
/// Installed by nobody for `--framing raw` (the proxy then adds no handler at all); it
/// exists so code that needs a framer for every kind has one.
public struct RawFramer: MessageFramer {
    private let role: MessageInfo.Role

    public init(role: MessageInfo.Role) {
        self.role = role
    }

    public mutating func decode(buffer: inout ByteBuffer) -> FramingStep {
        guard buffer.readableBytes > 0, let bytes = buffer.readSlice(length: buffer.readableBytes) else {
            return .needMoreData
        }
        return .message(bytes: bytes, info: MessageInfo(role: self.role))
    }
}
