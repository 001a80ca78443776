/// The event log's line, written by hand.
///
/// Foundation's `JSONEncoder` took about half of the proxy's CPU with `--framing` and
/// `--log` on two cores (bench/RESULTS.md), and a log that falls behind drops events. This
/// writes the same bytes `JSONEncoder` does with `.sortedKeys` and
/// `.withoutEscapingSlashes` (`EventJSONTests` compares the two on every field), so a log
/// reads the same whichever wrote it, and the same events always give the same bytes.
extension Event {
    /// Appends this event as one JSON object (no newline) to `out`.
    package func appendJSON(to out: inout [UInt8]) {
        var object = JSONObjectWriter(out: out)
        out = []  // `object` owns the storage while it writes: no copy on append
        // Keys in byte order, as `.sortedKeys` puts them.
        object.string("action", self.action)
        object.integer("attempt", self.attempt)
        object.integer("bytes", self.bytes)
        object.integer("bytes_from_client", self.bytesFromClient)
        object.integer("bytes_from_upstream", self.bytesFromUpstream)
        object.integer("bytes_to_client", self.bytesToClient)
        object.integer("bytes_to_upstream", self.bytesToUpstream)
        object.string("client", self.client)
        object.string("closed_by", self.closedBy)
        object.string("command", self.command)
        object.integer("conn", self.conn)
        object.integer("count", self.count)
        object.integer("datagrams_dropped_downstream", self.datagramsDroppedDownstream)
        object.integer("datagrams_dropped_upstream", self.datagramsDroppedUpstream)
        object.integer("datagrams_duplicated_downstream", self.datagramsDuplicatedDownstream)
        object.integer("datagrams_duplicated_upstream", self.datagramsDuplicatedUpstream)
        object.integer("datagrams_from_client", self.datagramsFromClient)
        object.integer("datagrams_from_upstream", self.datagramsFromUpstream)
        object.integer("datagrams_to_client", self.datagramsToClient)
        object.integer("datagrams_to_upstream", self.datagramsToUpstream)
        object.string("direction", self.direction?.rawValue)
        object.integer("dropped_downstream", self.droppedDownstream)
        object.integer("dropped_upstream", self.droppedUpstream)
        object.integer("duplicated_downstream", self.duplicatedDownstream)
        object.integer("duplicated_upstream", self.duplicatedUpstream)
        object.string("fingerprint", self.fingerprint)
        object.integer("first_close_mono", self.firstCloseMono)
        object.integer("first_mono", self.firstMono)
        object.string("framing", self.framing)
        object.string("idempotency_key", self.idempotencyKey)
        object.integer("injected_downstream", self.injectedDownstream)
        object.string("kind", self.kind)
        object.string("listen", self.listen)
        object.string("method", self.method)
        object.integer("mono", self.mono)
        object.dictionary("params", self.params)
        object.string("path", self.path)
        object.string("payload", self.payload)
        object.integer("plan", self.plan)
        object.string("profile", self.profile)
        object.string("profile_hash", self.profileHash)
        object.string("proxy", self.proxy)
        object.string("reason", self.reason)
        object.integer("request_mono", self.requestMono)
        object.integer("request_unit", self.requestUnit)
        object.string("retry_after", self.retryAfter)
        object.string("rule", self.rule)
        object.integer("seed", self.seed)
        object.integer("status", self.status)
        object.string("time", self.time)
        object.string("type", self.type.rawValue)
        object.integer("unanswered_unit", self.unansweredUnit)
        object.integer("unit", self.unit)
        object.string("upstream", self.upstream)
        object.integer("v", self.v)
        out = object.finish()
    }
}

/// Writes one flat JSON object, a key at a time, the way `JSONEncoder` spells it.
struct JSONObjectWriter {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    private var out: [UInt8]
    private var empty = true

    init(out: [UInt8]) {
        self.out = out
        self.out.append(UInt8(ascii: "{"))
    }

    mutating func finish() -> [UInt8] {
        self.out.append(UInt8(ascii: "}"))
        return self.out
    }

    mutating func string(_ key: StaticString, _ value: String?) {
        guard let value else { return }
        self.key(key)
        Self.appendQuoted(value, to: &self.out)
    }

    mutating func integer<Integer: BinaryInteger>(_ key: StaticString, _ value: Integer?) {
        guard let value else { return }
        self.key(key)
        Self.appendDecimal(value, to: &self.out)
    }

    /// A string-to-string object, its keys in byte order as `.sortedKeys` sorts them.
    mutating func dictionary(_ key: StaticString, _ value: [String: String]?) {
        guard let value else { return }
        self.key(key)
        self.out.append(UInt8(ascii: "{"))
        let entries = value.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        for (index, entry) in entries.enumerated() {
            if index > 0 { self.out.append(UInt8(ascii: ",")) }
            Self.appendQuoted(entry.key, to: &self.out)
            self.out.append(UInt8(ascii: ":"))
            Self.appendQuoted(entry.value, to: &self.out)
        }
        self.out.append(UInt8(ascii: "}"))
    }

    private mutating func key(_ key: StaticString) {
        if !self.empty { self.out.append(UInt8(ascii: ",")) }
        self.empty = false
        self.out.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { self.out.append(contentsOf: $0) }
        self.out.append(UInt8(ascii: "\""))
        self.out.append(UInt8(ascii: ":"))
    }

    private static func appendDecimal<Integer: BinaryInteger>(_ value: Integer, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let start = out.count
        repeat {
            out.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10))
            magnitude /= 10
        } while magnitude != 0
        out[start...].reverse()
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\b \t \n \f \r` or
    /// `\u00xx`, everything else (`/` and non-ASCII included) as its UTF-8 bytes.
    static func appendQuoted(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { bytes in
            var plainFrom = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[plainFrom..<index]))
                plainFrom = index + 1
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                default:
                    out.append(contentsOf: "u00".utf8)
                    out.append(Self.hexDigits[Int(byte >> 4)])
                    out.append(Self.hexDigits[Int(byte & 0xF)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[plainFrom...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
