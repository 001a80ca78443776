import FaultlineCore
import NIOCore

/// One unit leaving a `FramingHandler`: a whole message, or a raw chunk.
///
/// Stages after the framer (fault stage, taps) act on whole units: dropping one drops a
/// whole request, duplicating one duplicates it, and the bytes are exactly those read
/// from the socket. `UnframingHandler` turns units back into `ByteBuffer`s before the
/// bridge.
public struct FramedMessage: Equatable, Sendable {
    /// The unit's bytes, unchanged.
    public var bytes: ByteBuffer
    /// What the framer learned; nil for a raw chunk (raw framing, or after a fallback).
    public var info: MessageInfo?
    /// The unit's ordinal within its connection and direction, from 0: the `unit` of its
    /// `message` event, and the position faults key their decisions on.
    public var unit: UInt64

    public init(bytes: ByteBuffer, info: MessageInfo?, unit: UInt64) {
        self.bytes = bytes
        self.info = info
        self.unit = unit
    }
}
