import FaultlineCore
import NIOCore

/// One unit leaving a `FramingHandler`: a whole message, or a raw chunk.
///
/// Stages after the framer (fault stage, taps) act on whole units: dropping one drops a
/// whole request, duplicating one duplicates it, and the bytes are exactly those read
/// from the socket. `UnframingHandler` turns units back into `ByteBuffer`s before the
/// bridge.
///
/// Immutable, and one reference wide: a unit passes through several handlers and
/// queues, so it travels inside `NIOAny` without a box of its own and is copied with
/// one reference count. (A struct around the reference, not a class: NIO unwraps a
/// class from `NIOAny` through the runtime's slow cast for class types.)
package struct FramedMessage: Equatable, Sendable {
    private final class Storage: Sendable {
        let bytes: ByteBuffer
        let info: MessageInfo?
        let unit: UInt64

        init(bytes: ByteBuffer, info: MessageInfo?, unit: UInt64) {
            self.bytes = bytes
            self.info = info
            self.unit = unit
        }
    }

    private let storage: Storage

    /// The unit's bytes, unchanged.
    package var bytes: ByteBuffer { self.storage.bytes }
    /// What the framer learned; nil for a raw chunk (raw framing, or after a fallback).
    package var info: MessageInfo? { self.storage.info }
    /// The unit's ordinal within its connection and direction, from 0: the `unit` of its
    /// `message` event, and the position faults key their decisions on.
    package var unit: UInt64 { self.storage.unit }

    package init(bytes: ByteBuffer, info: MessageInfo?, unit: UInt64) {
        self.storage = Storage(bytes: bytes, info: info, unit: unit)
    }

    /// The same unit (info and ordinal) carrying `bytes` instead.
    package func replacingBytes(_ bytes: ByteBuffer) -> FramedMessage {
        FramedMessage(bytes: bytes, info: self.info, unit: self.unit)
    }

    package static func == (lhs: FramedMessage, rhs: FramedMessage) -> Bool {
        lhs.storage === rhs.storage || (lhs.bytes == rhs.bytes && lhs.info == rhs.info && lhs.unit == rhs.unit)
    }
}
