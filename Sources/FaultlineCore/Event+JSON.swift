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
        // A line starts on the stack; only a longer one (a payload) moves to the heap.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: JSONObjectWriter.scratchSize) { scratch in
            self.appendJSON(to: &out, scratch: scratch)
        }
    }

    private func appendJSON(to out: inout [UInt8], scratch: UnsafeMutableBufferPointer<UInt8>) {
        var object = JSONObjectWriter(scratch: scratch)
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
/// Into a buffer through a pointer, not an array: the log's writer thread formats every
/// event, and an array's uniqueness and capacity checks on each byte cost more than the
/// formatting (about 1 µs an event). The buffer is the caller's scratch space until a
/// line outgrows it.
struct JSONObjectWriter: ~Copyable {
    /// The scratch space a line starts in: room for every event but a long payload.
    static let scratchSize = 512
    private static let hexDigits: StaticString = "0123456789abcdef"
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var count = 0
    private var empty = true
    /// Whether `base` is this writer's own allocation (the line outgrew the scratch space).
    private var ownsBase = false

    init(scratch: UnsafeMutableBufferPointer<UInt8>) {
        precondition(scratch.count > 0)
        self.base = scratch.baseAddress!
        self.capacity = scratch.count
        self.base[0] = UInt8(ascii: "{")
        self.count = 1
    }

    deinit {
        if self.ownsBase { self.base.deallocate() }
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
    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if self.count + extra > self.capacity { self.grow(toHold: extra) }
    }

    @inline(never)
    private mutating func grow(toHold extra: Int) {
        let capacity = max(self.capacity * 2, self.count + extra)
        let base = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        base.update(from: self.base, count: self.count)
        if self.ownsBase { self.base.deallocate() }
        self.base = base
        self.capacity = capacity
        self.ownsBase = true
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
        let length = key.utf8CodeUnitCount
        self.reserve(length + 4)
        if !self.empty { self.put(UInt8(ascii: ",")) }
        self.empty = false
        self.put(UInt8(ascii: "\""))
        if key.hasPointerRepresentation {
            // A literal's bytes, read where they are (no closure, as most keys are).
            self.put(UnsafeBufferPointer(start: key.utf8Start, count: length))
        } else {
            key.withUTF8Buffer { self.put($0) }  // a one-character key, such as "v"
        }
        self.put(UInt8(ascii: "\""))
        self.put(UInt8(ascii: ":"))
    }

    private mutating func appendDecimal<Integer: FixedWidthInteger>(_ value: Integer) {
        // Every field is 64 bits at most: Int, UInt64 and smaller.
        self.reserve(21)  // every digit of the widest value, and a sign
        if value < 0 { self.put(UInt8(ascii: "-")) }
        var magnitude = UInt64(value.magnitude)
        let digits = Self.decimalDigits(magnitude)
        var position = self.count + digits
        self.count = position
        // Two digits at a time, from the last (a monotonic clock reading has 14 or more).
        Self.digitPairs.withUTF8Buffer { pairs in
            while magnitude >= 100 {
                let pair = Int(magnitude % 100) * 2
                magnitude /= 100
                position -= 2
                self.base[position] = pairs[pair]
                self.base[position + 1] = pairs[pair + 1]
            }
            if magnitude >= 10 {
                let pair = Int(magnitude) * 2
                self.base[position - 2] = pairs[pair]
                self.base[position - 1] = pairs[pair + 1]
            } else {
                self.base[position - 1] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude)
            }
        }
    }

    private static let digitPairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """

    /// How many decimal digits `value` has: estimated from its bit length (1233/4096 is
    /// just above log10(2)), then corrected by one comparison ("Bit Twiddling Hacks").
    /// `value | 1` has as many digits as `value` (no power of ten is odd) and one for 0.
    @inline(__always)
    static func decimalDigits(_ value: UInt64) -> Int {
        let value = value | 1
        let estimate = ((64 - value.leadingZeroBitCount) * 1233) >> 12
        return estimate + (value >= Self.powersOfTen[estimate] ? 1 : 0)
    }

    private static let powersOfTen: [UInt64] = (0..<20).map { exponent in
        (0..<exponent).reduce(1) { power, _ in power * 10 }
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
        guard let source = bytes.baseAddress else {
            self.put(UInt8(ascii: "\""))
            return
        }
        let end = bytes.count
        var plainFrom = 0
        var index = 0
        while index < end {
            // Eight bytes at a time while none needs escaping, as in most strings.
            if end - index >= 8,
               !Self.anyNeedsEscaping(UnsafeRawPointer(source + index).loadUnaligned(as: UInt64.self)) {
                index += 8
                continue
            }
            let byte = source[index]
            index += 1
            guard Self.needsEscaping(byte) else { continue }
            self.put(UnsafeBufferPointer(start: source + plainFrom, count: index - 1 - plainFrom))
            plainFrom = index
            // The escape's bytes, the rest of the string and the closing quote.
            self.reserve(6 + end - plainFrom + 1)
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
        self.put(UnsafeBufferPointer(start: source + plainFrom, count: end - plainFrom))
        self.put(UInt8(ascii: "\""))
    }

    /// A control character, `"` or `\`: the bytes a JSON string must escape.
    @inline(__always)
    static func needsEscaping(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// Whether any of a word's eight bytes needs escaping, without looking at each
    /// ("Bit Twiddling Hacks": `(x - 0x01…·n) & ~x & 0x80…` is non-zero exactly when
    /// some byte of x is below n, n ≤ 128; a byte equal to c is a zero byte of x ^ c).
    @inline(__always)
    static func anyNeedsEscaping(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highBits: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- ones &* 0x20) & ~word
        let quotes = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
        let backslashes = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
        let quote = (quotes &- ones) & ~quotes
        let backslash = (backslashes &- ones) & ~backslashes
        return (control | quote | backslash) & highBits != 0
    }
}
