import FaultlineCore
import NIOCore

/// One unit leaving a `FramingHandler`: a whole message, or a raw chunk.
///
/// Stages after the framer (fault stage, taps) act on whole units: dropping one drops a
/// whole request, duplicating one duplicates it, and the bytes are exactly those read
/// from the socket. `UnframingHandler` turns units back into `ByteBuffer`s before the
/// bridge.
package struct FramedMessage: Equatable, Sendable {
    /// The unit's bytes, unchanged.
    package var bytes: ByteBuffer
    /// What the framer learned; nil for a raw chunk (raw framing, or after a fallback).
    package var info: MessageInfo?
    /// The unit's ordinal within its connection and direction, from 0: the `unit` of its
    /// `message` event, and the position faults key their decisions on.
    package var unit: UInt64

    package init(bytes: ByteBuffer, info: MessageInfo?, unit: UInt64) {
        self.bytes = bytes
        self.info = info
        self.unit = unit
    }
}
