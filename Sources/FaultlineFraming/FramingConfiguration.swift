import FaultlineCore

/// How a proxy cuts each connection's bytes into messages (`--framing`).
///
/// `raw` installs nothing, so it costs nothing: units are the chunks the socket gives.
package struct FramingConfiguration: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        /// Chunks as they come; no message events.
        case raw
        /// Newline-delimited messages (the `\n` ends a message; a `\r` before it is kept).
        case line
        /// A length prefix, then that many bytes.
        case length(LengthPrefix)
        /// HTTP/1.1 requests and responses.
        case http
        /// Redis RESP2 and RESP3 commands and replies.
        case resp

        /// The kind a `--framing` value (or a profile's or run file's `framing:`) names;
        /// `lengthPrefix` is used only by `length`.
        package init(name: String, lengthPrefix: LengthPrefix? = nil) throws(InvalidInputError) {
            switch name {
            case "raw": self = .raw
            case "line": self = .line
            case "http": self = .http
            case "resp": self = .resp
            case "length":
                if let lengthPrefix {
                    self = .length(lengthPrefix)
                } else {
                    self = .length(try LengthPrefix())
                }
            default:
                throw InvalidInputError(
                    "framing '\(name)': use one of \(FramingConfiguration.names.joined(separator: ", "))"
                )
            }
        }

        /// The `--framing` spelling.
        package var name: String {
            switch self {
            case .raw: "raw"
            case .line: "line"
            case .length: "length"
            case .http: "http"
            case .resp: "resp"
            }
        }
    }

    package var kind: Kind
    package var limits: FramingLimits
    /// Put each message's bytes, base64, in its `message` event (`--record-payloads`):
    /// what replay needs, and what makes logs large.
    package var recordPayloads: Bool

    package init(kind: Kind, limits: FramingLimits = FramingLimits(), recordPayloads: Bool = false) {
        self.kind = kind
        self.limits = limits
        self.recordPayloads = recordPayloads
    }

    /// No framing: the default.
    package static let raw = FramingConfiguration(kind: .raw)

    /// The names `--framing` accepts.
    package static let names = ["raw", "line", "length", "http", "resp"]
}

/// The width, byte order and meaning of a length prefix (`--framing length`).
///
///     prefix 2, big endian, not counting itself:   00 03 'a' 'b' 'c'
///     prefix 2, big endian, counting itself:       00 05 'a' 'b' 'c'
package struct LengthPrefix: Sendable, Equatable {
    package enum Endianness: String, Sendable, CaseIterable {
        case big
        case little
    }

    /// 1, 2, 4 or 8 bytes.
    package var width: Int
    package var endianness: Endianness
    /// The length counts the prefix's own bytes too.
    package var includesPrefix: Bool

    package static let widths = [1, 2, 4, 8]

    package init(width: Int = 4, endianness: Endianness = .big, includesPrefix: Bool = false) throws(InvalidInputError) {
        guard Self.widths.contains(width) else {
            throw InvalidInputError("--length-prefix \(width): the prefix is 1, 2, 4 or 8 bytes")
        }
        self.width = width
        self.endianness = endianness
        self.includesPrefix = includesPrefix
    }
}

/// Bounds on what a framer holds before it gives up and carries the connection raw.
///
/// A framer holds a message until it is complete, so these bound the memory a
/// connection can take; exceeding one is never an error for the client, only the end
/// of framing for that connection (a `framing_fallback` event says why).
package struct FramingLimits: Sendable, Equatable {
    /// An HTTP head (request or status line and headers), an HTTP trailer section, a
    /// RESP line or an inline command: 64 KiB by default.
    package var maxHeaderBytes: Int
    /// A whole message, head and body: 8 MiB by default.
    package var maxMessageBytes: Int
    /// How long a started message may stay incomplete before the connection's direction
    /// falls back to raw, in nanoseconds: 2 s by default. A peer that waits for an
    /// answer before it finishes a message (`Expect: 100-continue`, a stream of
    /// server-sent events) would otherwise wait on faultline. Nil: no bound.
    package var maxHoldNanoseconds: Int64?

    package static let defaultMaxHeaderBytes = 64 * 1024
    package static let defaultMaxMessageBytes = 8 * 1024 * 1024
    package static let defaultMaxHoldNanoseconds: Int64 = 2_000_000_000

    package init(
        maxHeaderBytes: Int = Self.defaultMaxHeaderBytes,
        maxMessageBytes: Int = Self.defaultMaxMessageBytes,
        maxHoldNanoseconds: Int64? = Self.defaultMaxHoldNanoseconds
    ) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxMessageBytes = maxMessageBytes
        self.maxHoldNanoseconds = maxHoldNanoseconds
    }
}
