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
        var object = JSONObjectWriter()
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
        object.finish(appendingTo: &out)
    }
}

/// Writes one flat JSON object, a key at a time, the way `JSONEncoder` spells it.
///
/// Into a buffer of its own, through a pointer: the log's writer thread formats every
/// event, and an array's uniqueness and capacity checks on each byte cost more than
/// the formatting (about 1 µs an event).
struct JSONObjectWriter: ~Copyable {
    private static let hexDigits: StaticString = "0123456789abcdef"
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var count = 0
    private var empty = true

    init() {
        self.capacity = 512
        self.base = .allocate(capacity: self.capacity)
        self.base[0] = UInt8(ascii: "{")
        self.count = 1
    }

    deinit {
        self.base.deallocate()
    }

    /// Closes the object and appends it to `out`.
    consuming func finish(appendingTo out: inout [UInt8]) {
        self.reserve(1)
        self.put(UInt8(ascii: "}"))
        out.append(contentsOf: UnsafeBufferPointer(start: self.base, count: self.count))
    }

    mutating func string(_ key: StaticString, _ value: String?) {
        guard let value else { return }
        self.key(key)
        self.appendQuoted(value)
    }

    mutating func integer<Integer: FixedWidthInteger>(_ key: StaticString, _ value: Integer?) {
        guard let value else { return }
        self.key(key)
        self.appendDecimal(value)
    }

    /// A string-to-string object, its keys in byte order as `.sortedKeys` sorts them.
    mutating func dictionary(_ key: StaticString, _ value: [String: String]?) {
        guard let value else { return }
        self.key(key)
        self.reserve(1)
        self.put(UInt8(ascii: "{"))
        let entries = value.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        for (index, entry) in entries.enumerated() {
            if index > 0 {
                self.reserve(1)
                self.put(UInt8(ascii: ","))
            }
            self.appendQuoted(entry.key)
            self.reserve(1)
            self.put(UInt8(ascii: ":"))
            self.appendQuoted(entry.value)
        }
        self.reserve(1)
        self.put(UInt8(ascii: "}"))
    }

    // MARK: Bytes

    /// Makes room for `extra` more bytes.
    private mutating func reserve(_ extra: Int) {
        guard self.count + extra > self.capacity else { return }
        let capacity = max(self.capacity * 2, self.count + extra)
        let base = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        base.update(from: self.base, count: self.count)
        self.base.deallocate()
        self.base = base
        self.capacity = capacity
    }

    /// One byte, room for it already reserved.
    private mutating func put(_ byte: UInt8) {
        self.base[self.count] = byte
        self.count += 1
    }

    /// Bytes, room for them already reserved.
    private mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        (self.base + self.count).update(from: source, count: bytes.count)
        self.count += bytes.count
    }

    private mutating func key(_ key: StaticString) {
        self.reserve(key.utf8CodeUnitCount + 4)
        if !self.empty { self.put(UInt8(ascii: ",")) }
        self.empty = false
        self.put(UInt8(ascii: "\""))
        key.withUTF8Buffer { self.put($0) }
        self.put(UInt8(ascii: "\""))
        self.put(UInt8(ascii: ":"))
    }

    private mutating func appendDecimal<Integer: FixedWidthInteger>(_ value: Integer) {
        self.reserve(Integer.bitWidth / 3 + 2)  // every digit of the widest value, and a sign
        if value < 0 { self.put(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits = 1
        var rest = magnitude / 10
        while rest != 0 {
            digits += 1
            rest /= 10
        }
        var position = self.count + digits
        self.count = position
        repeat {
            position -= 1
            self.base[position] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
            magnitude /= 10
        } while magnitude != 0
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\b \t \n \f \r` or
    /// `\u00xx`, everything else (`/` and non-ASCII included) as its UTF-8 bytes.
    private mutating func appendQuoted(_ value: String) {
        // Read in place where the string is contiguous (native and small strings are):
        // `withUTF8` needs a mutable copy, a retain and a release per string.
        if value.utf8.withContiguousStorageIfAvailable({ self.appendQuoted(utf8: $0) }) == nil {
            var value = value
            value.withUTF8 { self.appendQuoted(utf8: $0) }
        }
    }

    private mutating func appendQuoted(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        self.reserve(bytes.count + 2)
        self.put(UInt8(ascii: "\""))
        var plainFrom = 0
        for index in bytes.indices {
            let byte = bytes[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            self.put(UnsafeBufferPointer(rebasing: bytes[plainFrom..<index]))
            plainFrom = index + 1
            // The escape's bytes, the rest of the string and the closing quote.
            self.reserve(6 + bytes.count - plainFrom + 1)
            self.put(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): self.put(byte)
            case 0x08: self.put(UInt8(ascii: "b"))
            case 0x09: self.put(UInt8(ascii: "t"))
            case 0x0A: self.put(UInt8(ascii: "n"))
            case 0x0C: self.put(UInt8(ascii: "f"))
            case 0x0D: self.put(UInt8(ascii: "r"))
            default:
                self.put(UInt8(ascii: "u"))
                self.put(UInt8(ascii: "0"))
                self.put(UInt8(ascii: "0"))
                Self.hexDigits.withUTF8Buffer { digits in
                    self.put(digits[Int(byte >> 4)])
                    self.put(digits[Int(byte & 0xF)])
                }
            }
        }
        self.put(UnsafeBufferPointer(rebasing: bytes[plainFrom...]))
        self.put(UInt8(ascii: "\""))
    }
}
