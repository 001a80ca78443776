import FaultlineCore
import NIOCore

/// Finds message boundaries in one direction of one connection, without changing a byte.
///
/// Channel-free, like swift-nio-extras' `LineBasedFrameDecoder`: the caller keeps the
/// bytes read so far in one buffer and calls `decode(buffer:)` until it says
/// `.needMoreData`. A framer may remember how far it has looked (offsets from the
/// buffer's reader index), so between calls the caller may only append to the buffer.
///
///     read:    | GET /a HTTP/1.1\r\n\r\nGET /b HT | TP/1.1\r\n\r\n |
///     decode:  | GET /a HTTP/1.1\r\n\r\n | GET /b HTTP/1.1\r\n\r\n |   (same bytes)
package protocol MessageFramer {
    /// Takes the next whole message from the front of `buffer`.
    ///
    /// On `.message` exactly that message's bytes were read from `buffer`. On
    /// `.needMoreData` and `.raw` nothing was read: after `.raw`, the caller forwards
    /// what `buffer` holds, and everything after it, as raw chunks.
    mutating func decode(buffer: inout ByteBuffer) -> FramingStep

    /// The input ended. Returns a message that ends with the input (an HTTP response
    /// read until close, a last line without a newline), taking its bytes from `buffer`.
    /// Bytes left in `buffer` afterwards belong to a message the end cut short.
    mutating func decodeLast(buffer: inout ByteBuffer) -> (bytes: ByteBuffer, info: MessageInfo)?

    /// The caller stopped framing for its own reason (a message held too long, the
    /// input ended mid-message): from now on `decode` must say `.raw`. HTTP uses it to
    /// tell the other direction that replies can no longer be paired.
    mutating func didFallBack(reason: String)
}

extension MessageFramer {
    package mutating func decodeLast(buffer: inout ByteBuffer) -> (bytes: ByteBuffer, info: MessageInfo)? {
        nil
    }

    package mutating func didFallBack(reason: String) {}
}

/// What a framer found at the front of the buffer.
package enum FramingStep {
    /// A whole message, already taken from the buffer.
    case message(bytes: ByteBuffer, info: MessageInfo)
    /// The message is not complete yet.
    case needMoreData
    /// From here on the connection's direction is raw: the bytes do not parse, a limit
    /// was exceeded, or the protocol switched (HTTP Upgrade, CONNECT). `reason` says
    /// which, for the `framing_fallback` event. Once returned, always returned.
    case raw(reason: String)
}
