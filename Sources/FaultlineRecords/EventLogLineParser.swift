#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FaultlineCore

/// Parses one event-log line, a flat JSON object, straight from its bytes into an `Event`.
///
/// The log is the product's data and a checker reads millions of lines, so this does
/// what `JSONDecoder` did, once and without the detours: no `Data` per line, no dictionary
/// of the object, no `String` per key (keys are looked up by their bytes, values become
/// `String`s only when `Event` keeps them). It is strict JSON (RFC 8259): one object,
/// nothing after it but whitespace, strings valid UTF-8 with only the standard escapes,
/// numbers by the grammar; unknown keys are skipped (validated, so a corrupt line is
/// still caught) because newer builds add fields.
///
///     {"v":1,"type":"message","conn":3,"params":{"ms":"200"},"future":[1,{}]}\r
///      └─ table ─┘ └─ Kind ─┘  └ UInt64┘ └─ [String: String] ┘ └ skipped ─┘ └ whitespace
///
/// A syntax problem wins over a field problem (so a cut-off line reads as cut off); then
/// the version, then the type, then the first field of the wrong type, in line order.
struct EventLogLineParser {
    /// What is wrong with a line; `EventLogReader` adds the file and line number.
    enum Problem: Error, Equatable {
        /// Not one JSON object (or not JSON at all).
        case syntax
        case noVersion
        case unsupportedVersion(Int)
        case noType
        case unknownType(String)
        /// `field` (dotted inside `params`) holds a value of another JSON type.
        case wrongType(field: String, expected: String)
        /// `field` holds a value of the right type that `Event` has no case for.
        case notAllowed(field: String)
    }

    /// Objects and arrays nested deeper than this in an unknown key are refused rather
    /// than recursed into (JSONDecoder's limit too).
    static let depthLimit = 512

    private let table = EventLogField.Table()
    /// `type` and `direction` values seen so far, by their bytes: a `String` and a
    /// string switch (`init(rawValue:)`) only the first time each is seen.
    private var kinds = Learned<Event.Kind>()
    private var directions = Learned<Event.Direction>()
    /// Decoded bytes of a string with escapes; kept between lines to reuse its storage.
    private var scratch: [UInt8] = []
    private var cursor: UnsafePointer<UInt8>
    private var end: UnsafePointer<UInt8>
    /// A `v` or `type` of the wrong JSON type: reported before other fields.
    private var versionProblem: Problem?
    private var typeProblem: Problem?
    private var fieldProblem: Problem?

    init() {
        // Placeholders until `parse` points them at a line.
        let empty = UnsafePointer<UInt8>(bitPattern: 1)!
        self.cursor = empty
        self.end = empty
    }

    /// The event on `line` (without its newline).
    mutating func parse(_ line: UnsafeBufferPointer<UInt8>) throws(Problem) -> Event {
        guard let base = line.baseAddress, !line.isEmpty else { throw .syntax }
        self.cursor = base
        self.end = base + line.count
        self.versionProblem = nil
        self.typeProblem = nil
        self.fieldProblem = nil
        var event = Event(.message)
        var version: Int?
        var type: Event.Kind?
        var unknownType: String?

        self.skipWhitespace()
        try self.expect(UInt8(ascii: "{"))
        self.skipWhitespace()
        if try self.peek() == UInt8(ascii: "}") {
            self.cursor += 1
        } else {
            while true {
                try self.expect(UInt8(ascii: "\""))
                let field = try self.key()
                self.skipWhitespace()
                try self.expect(UInt8(ascii: ":"))
                self.skipWhitespace()
                switch field {
                case .v?: version = try self.integer(.v, as: Int.self)
                case .type?:
                    (type, unknownType) = (nil, nil)
                    switch try self.enumeration(.type, learned: \.kinds) {
                    case .value(let value): type = value
                    case .other(let text): unknownType = text
                    case nil: break
                    }
                case let field?: try self.readField(field, into: &event)
                case nil: try self.skipValue(depth: 0)
                }
                self.skipWhitespace()
                let next = try self.take()
                if next == UInt8(ascii: "}") { break }
                guard next == UInt8(ascii: ",") else { throw .syntax }
                self.skipWhitespace()
            }
        }
        self.skipWhitespace()
        guard self.cursor == self.end else { throw .syntax }

        if let problem = self.versionProblem { throw problem }
        guard let version else { throw .noVersion }
        guard version >= 1, version <= Event.formatVersion else { throw .unsupportedVersion(version) }
        if let problem = self.typeProblem { throw problem }
        if let unknownType { throw .unknownType(unknownType) }
        guard let type else { throw .noType }
        if let problem = self.fieldProblem { throw problem }
        event.v = version
        event.type = type
        return event
    }

    /// Reads the value of `field` (any but `v` and `type`) into `event`.
    ///
    /// Exhaustive on purpose: a new `EventLogField` case does not compile until it is set.
    private mutating func readField(_ field: EventLogField, into event: inout Event) throws(Problem) {
        switch field {
        case .v, .type: try self.skipValue(depth: 0)  // read by `parse`
        case .time: event.time = try self.string(field)
        case .mono: event.mono = try self.integer(field, as: UInt64.self, in: Self.times)
        case .proxy: event.proxy = try self.string(field)
        case .conn: event.conn = try self.integer(field, as: UInt64.self, in: Self.ordinals)
        case .direction:
            switch try self.enumeration(field, learned: \.directions) {
            case .value(let direction): event.direction = direction
            case .other: self.note(.notAllowed(field: field.rawValue))
            case nil: event.direction = nil
            }
        case .unit: event.unit = try self.integer(field, as: UInt64.self, in: Self.ordinals)
        case .client: event.client = try self.string(field)
        case .upstream: event.upstream = try self.string(field)
        case .listen: event.listen = try self.string(field)
        case .bytes: event.bytes = try self.integer(field, as: Int.self, in: Self.counts)
        case .bytesFromClient: event.bytesFromClient = try self.integer(field, as: Int.self, in: Self.counts)
        case .bytesToUpstream: event.bytesToUpstream = try self.integer(field, as: Int.self, in: Self.counts)
        case .bytesFromUpstream: event.bytesFromUpstream = try self.integer(field, as: Int.self, in: Self.counts)
        case .bytesToClient: event.bytesToClient = try self.integer(field, as: Int.self, in: Self.counts)
        case .droppedUpstream: event.droppedUpstream = try self.integer(field, as: Int.self, in: Self.counts)
        case .droppedDownstream: event.droppedDownstream = try self.integer(field, as: Int.self, in: Self.counts)
        case .duplicatedUpstream: event.duplicatedUpstream = try self.integer(field, as: Int.self, in: Self.counts)
        case .duplicatedDownstream: event.duplicatedDownstream = try self.integer(field, as: Int.self, in: Self.counts)
        case .injectedDownstream: event.injectedDownstream = try self.integer(field, as: Int.self, in: Self.counts)
        case .rule: event.rule = try self.string(field)
        case .kind: event.kind = try self.string(field)
        case .action: event.action = try self.string(field)
        case .params: event.params = try self.params()
        case .method: event.method = try self.string(field)
        case .path: event.path = try self.string(field)
        case .status: event.status = try self.integer(field, as: Int.self)
        case .idempotencyKey: event.idempotencyKey = try self.string(field)
        case .command: event.command = try self.string(field)
        case .fingerprint: event.fingerprint = try self.string(field)
        case .payload: event.payload = try self.string(field)
        case .attempt: event.attempt = try self.integer(field, as: UInt64.self, in: Self.ordinals)
        case .firstMono: event.firstMono = try self.integer(field, as: UInt64.self, in: Self.times)
        case .requestUnit: event.requestUnit = try self.integer(field, as: UInt64.self, in: Self.ordinals)
        case .requestMono: event.requestMono = try self.integer(field, as: UInt64.self, in: Self.times)
        case .retryAfter: event.retryAfter = try self.string(field)
        case .closedBy: event.closedBy = try self.string(field)
        case .firstCloseMono: event.firstCloseMono = try self.integer(field, as: UInt64.self, in: Self.times)
        case .unansweredUnit: event.unansweredUnit = try self.integer(field, as: UInt64.self, in: Self.ordinals)
        case .seed: event.seed = try self.integer(field, as: UInt64.self)
        case .profile: event.profile = try self.string(field)
        case .profileHash: event.profileHash = try self.string(field)
        case .framing: event.framing = try self.string(field)
        case .plan: event.plan = try self.integer(field, as: UInt64.self)
        case .reason: event.reason = try self.string(field)
        case .count: event.count = try self.integer(field, as: Int.self, in: Self.counts)
        case .datagramsFromClient: event.datagramsFromClient = try self.integer(field, as: Int.self, in: Self.counts)
        case .datagramsToUpstream: event.datagramsToUpstream = try self.integer(field, as: Int.self, in: Self.counts)
        case .datagramsFromUpstream: event.datagramsFromUpstream = try self.integer(field, as: Int.self, in: Self.counts)
        case .datagramsToClient: event.datagramsToClient = try self.integer(field, as: Int.self, in: Self.counts)
        case .datagramsDroppedUpstream: event.datagramsDroppedUpstream = try self.integer(field, as: Int.self, in: Self.counts)
        case .datagramsDroppedDownstream: event.datagramsDroppedDownstream = try self.integer(field, as: Int.self, in: Self.counts)
        case .datagramsDuplicatedUpstream: event.datagramsDuplicatedUpstream = try self.integer(field, as: Int.self, in: Self.counts)
        case .datagramsDuplicatedDownstream: event.datagramsDuplicatedDownstream = try self.integer(field, as: Int.self, in: Self.counts)
        }
    }

    // MARK: Values of known fields

    /// Keeps the first field problem (`v`'s and `type`'s apart: they are reported first).
    private mutating func note(_ problem: Problem) {
        switch problem {
        case .wrongType(field: "v", _): self.versionProblem = self.versionProblem ?? problem
        case .wrongType(field: "type", _): self.typeProblem = self.typeProblem ?? problem
        default: self.fieldProblem = self.fieldProblem ?? problem
        }
    }

    /// A string, nil for `null`; another type is noted against `field` and skipped.
    private mutating func string(_ field: EventLogField) throws(Problem) -> String? {
        switch try self.peek() {
        case UInt8(ascii: "\""):
            self.cursor += 1
            return try self.stringBody()
        case UInt8(ascii: "n"):
            try self.literal("null")
            return nil
        default:
            try self.skipValue(depth: 0)
            self.note(.wrongType(field: field.rawValue, expected: "a string"))
            return nil
        }
    }

    /// A string value of a `RawRepresentable` enum, or the string when no case has it;
    /// nil for `null` or another JSON type (noted against `field`).
    private enum Enumerated<Value> {
        case value(Value)
        case other(String)
    }

    private mutating func enumeration<Value>(
        _ field: EventLogField,
        learned: WritableKeyPath<EventLogLineParser, Learned<Value>>
    ) throws(Problem) -> Enumerated<Value>? {
        guard try self.peek() == UInt8(ascii: "\"") else {
            _ = try self.string(field)  // null, or a wrong type noted
            return nil
        }
        self.cursor += 1
        if let bytes = self.plainString() {
            if let value = self[keyPath: learned].value(bytes) { return .value(value) }
            return .other(String(decoding: bytes, as: UTF8.self))
        }
        let text = try self.stringBody()
        return Value(rawValue: text).map { .value($0) } ?? .other(text)
    }

    /// Values of a `String` enum by their bytes, learned as they are met (at most 64).
    struct Learned<Value: RawRepresentable> where Value.RawValue == String {
        private var entries: [(name: [UInt8], value: Value)] = []

        /// The case whose raw value is `bytes` (plain ASCII), or nil when none is.
        mutating func value(_ bytes: UnsafeBufferPointer<UInt8>) -> Value? {
            for entry in self.entries where entry.name.count == bytes.count {
                let same = bytes.isEmpty || entry.name.withUnsafeBufferPointer { name in
                    memcmp(name.baseAddress!, bytes.baseAddress!, bytes.count) == 0
                }
                if same { return entry.value }
            }
            guard let value = Value(rawValue: String(decoding: bytes, as: UTF8.self)) else { return nil }
            if self.entries.count < 64 { self.entries.append((Array(bytes), value)) }
            return value
        }
    }

    /// Monotonic nanoseconds: up to 2^60 (36 years of uptime), so differences of times
    /// taken from one origin, and sums of a few, never overflow in whoever reads them.
    static let times: ClosedRange<UInt64> = 0...(1 << 60)
    /// Connection, message and attempt ordinals: up to 2^62, for the same reason.
    static let ordinals: ClosedRange<UInt64> = 0...(1 << 62)
    /// Byte and datagram counts: 2^53 (8 PiB) either way. Negative counts are read (the
    /// accounting check reports them); huge ones could only overflow a total.
    static let counts: ClosedRange<Int> = -(1 << 53)...(1 << 53)

    /// An integer of `T` within `range`, nil for `null`; out of it, the field is wrong.
    private mutating func integer<T: FixedWidthInteger>(_ field: EventLogField, as type: T.Type, in range: ClosedRange<T>) throws(Problem) -> T? {
        guard let value = try self.integer(field, as: type) else { return nil }
        guard range.contains(value) else {
            self.note(.wrongType(field: field.rawValue, expected: "an integer from \(range.lowerBound) to \(range.upperBound)"))
            return nil
        }
        return value
    }

    /// An integer that fits `T`, nil for `null`. Like JSONDecoder, `1.0` and `1e3` are
    /// integers; `1.5` is not, nor is a number out of `T`'s range.
    private mutating func integer<T: FixedWidthInteger>(_ field: EventLogField, as type: T.Type) throws(Problem) -> T? {
        let first = try self.peek()
        if first == UInt8(ascii: "n") {
            try self.literal("null")
            return nil
        }
        guard first == UInt8(ascii: "-") || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) else {
            try self.skipValue(depth: 0)
            self.note(.wrongType(field: field.rawValue, expected: "an integer"))
            return nil
        }
        let start = self.cursor
        let isInteger = try self.number()
        let negative = first == UInt8(ascii: "-")
        if isInteger {
            // Digits only: accumulate the magnitude, checking for overflow.
            var magnitude: UInt64 = 0
            var overflow = false
            var digit = negative ? start + 1 : start
            while digit < self.cursor {
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(digit.pointee &- UInt8(ascii: "0")))
                magnitude = sum
                overflow = overflow || o1 || o2
                digit += 1
            }
            if !overflow {
                if !negative, let value = T(exactly: magnitude) { return value }
                if negative, magnitude == 0 { return 0 }
                if negative, T.isSigned, magnitude <= UInt64(T.max) + 1 {
                    return T(truncatingIfNeeded: 0 &- magnitude)
                }
            }
        } else {
            let text = String(decoding: UnsafeBufferPointer(start: start, count: self.cursor - start), as: UTF8.self)
            if let double = Double(text), double.rounded() == double {
                if let value = T(exactly: double) { return value }
            } else {
                self.note(.wrongType(field: field.rawValue, expected: "an integer"))
                return nil
            }
        }
        self.note(.wrongType(field: field.rawValue, expected: "an integer from \(T.min) to \(T.max)"))
        return nil
    }

    /// `params`: an object whose values are strings, nil for `null`.
    private mutating func params() throws(Problem) -> [String: String]? {
        switch try self.peek() {
        case UInt8(ascii: "{"):
            self.cursor += 1
        case UInt8(ascii: "n"):
            try self.literal("null")
            return nil
        default:
            try self.skipValue(depth: 0)
            self.note(.wrongType(field: EventLogField.params.rawValue, expected: "an object of strings"))
            return nil
        }
        var params: [String: String] = [:]
        self.skipWhitespace()
        if try self.peek() == UInt8(ascii: "}") {
            self.cursor += 1
            return params
        }
        while true {
            try self.expect(UInt8(ascii: "\""))
            let key = try self.stringBody()
            self.skipWhitespace()
            try self.expect(UInt8(ascii: ":"))
            self.skipWhitespace()
            if try self.peek() == UInt8(ascii: "\"") {
                self.cursor += 1
                let value = try self.stringBody()
                if params[key] == nil { params[key] = value }  // the first of a repeated key, as JSONDecoder
            } else {
                try self.skipValue(depth: 1)
                self.note(.wrongType(field: "params.\(key)", expected: "a string"))
            }
            self.skipWhitespace()
            let next = try self.take()
            if next == UInt8(ascii: "}") { return params }
            guard next == UInt8(ascii: ",") else { throw .syntax }
            self.skipWhitespace()
        }
    }

    // MARK: Strings

    /// The key whose opening quote was just read, looked up by its bytes.
    private mutating func key() throws(Problem) -> EventLogField? {
        let start = self.cursor
        var ascii = true
        while self.cursor < self.end {
            let byte = self.cursor.pointee
            if byte == UInt8(ascii: "\"") {
                let bytes = UnsafeBufferPointer(start: start, count: self.cursor - start)
                self.cursor += 1
                if !ascii {
                    guard Self.isValidUTF8(bytes) else { throw .syntax }
                    return nil  // every known key is ASCII
                }
                return self.table.field(bytes, readable: self.end - start)
            }
            if byte == UInt8(ascii: "\\") {
                // An escaped key (no writer makes one): decode it, then look it up.
                self.cursor = start
                _ = try self.stringBody()
                return self.scratch.withUnsafeBufferPointer { self.table.field($0, readable: $0.count) }
            }
            if byte < 0x20 { throw .syntax }
            if byte >= 0x80 { ascii = false }
            self.cursor += 1
        }
        throw .syntax
    }

    /// After an opening quote: the bytes up to the closing quote, when they are plain
    /// ASCII without escapes (the cursor then after the quote); otherwise nil and the
    /// cursor where it was.
    private mutating func plainString() -> UnsafeBufferPointer<UInt8>? {
        var byte = self.cursor
        while byte < self.end {
            switch byte.pointee {
            case UInt8(ascii: "\""):
                let bytes = UnsafeBufferPointer(start: self.cursor, count: byte - self.cursor)
                self.cursor = byte + 1
                return bytes
            case UInt8(ascii: "\\"), 0..<0x20, 0x80...:
                return nil
            default:
                byte += 1
            }
        }
        return nil
    }

    /// The string whose opening quote was just read; leaves the cursor after its closing
    /// quote. Without escapes the `String` is made from the line's bytes directly; with
    /// them, it is decoded into `scratch` first (which then holds its UTF-8).
    private mutating func stringBody() throws(Problem) -> String {
        let start = self.cursor
        var ascii = true
        while self.cursor < self.end {
            let byte = self.cursor.pointee
            if byte == UInt8(ascii: "\"") {
                let bytes = UnsafeBufferPointer(start: start, count: self.cursor - start)
                self.cursor += 1
                if ascii { return String(decoding: bytes, as: UTF8.self) }
                guard let string = String(validating: bytes, as: UTF8.self) else { throw .syntax }
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw .syntax }
            if byte >= 0x80 { ascii = false }
            self.cursor += 1
        }
        guard self.cursor < self.end else { throw .syntax }
        // Escapes: copy what came before, then decode the rest byte by byte.
        self.scratch.removeAll(keepingCapacity: true)
        self.scratch.append(contentsOf: UnsafeBufferPointer(start: start, count: self.cursor - start))
        while true {
            let byte = try self.take()
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = String(validating: self.scratch, as: UTF8.self) else { throw .syntax }
                return string
            case UInt8(ascii: "\\"):
                let scalar = try self.escape()
                Self.appendUTF8(scalar, to: &self.scratch)
            case 0..<0x20:
                throw .syntax
            default:
                self.scratch.append(byte)
            }
        }
    }

    /// Decodes the escape after a backslash: the scalar it stands for.
    private mutating func escape() throws(Problem) -> UInt32 {
        switch try self.take() {
        case UInt8(ascii: "\""): return 0x22
        case UInt8(ascii: "\\"): return 0x5C
        case UInt8(ascii: "/"): return 0x2F
        case UInt8(ascii: "b"): return 0x08
        case UInt8(ascii: "f"): return 0x0C
        case UInt8(ascii: "n"): return 0x0A
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "t"): return 0x09
        case UInt8(ascii: "u"):
            let unit = UInt32(try self.hex4())
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate must be followed by an escaped low one.
                try self.expect(UInt8(ascii: "\\"))
                try self.expect(UInt8(ascii: "u"))
                let low = UInt32(try self.hex4())
                guard (0xDC00...0xDFFF).contains(low) else { throw .syntax }
                return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            case 0xDC00...0xDFFF:
                throw .syntax  // a low surrogate alone
            default:
                return unit
            }
        default:
            throw .syntax
        }
    }

    /// Appends the UTF-8 of `scalar` (a valid scalar value: no surrogates).
    private static func appendUTF8(_ scalar: UInt32, to output: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            output.append(UInt8(scalar))
        case 0x80..<0x800:
            output.append(0xC0 | UInt8(scalar >> 6))
            output.append(0x80 | UInt8(scalar & 0x3F))
        case 0x800..<0x10000:
            output.append(0xE0 | UInt8(scalar >> 12))
            output.append(0x80 | UInt8((scalar >> 6) & 0x3F))
            output.append(0x80 | UInt8(scalar & 0x3F))
        default:
            output.append(0xF0 | UInt8(scalar >> 18))
            output.append(0x80 | UInt8((scalar >> 12) & 0x3F))
            output.append(0x80 | UInt8((scalar >> 6) & 0x3F))
            output.append(0x80 | UInt8(scalar & 0x3F))
        }
    }

    private mutating func hex4() throws(Problem) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = try self.take()
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw .syntax
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    private static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let failed = transcode(bytes.makeIterator(), from: UTF8.self, to: UTF32.self, stoppingOnError: true) { _ in }
        return !failed
    }

    // MARK: Skipping values of unknown keys

    /// Skips one JSON value, checking it is valid.
    private mutating func skipValue(depth: Int) throws(Problem) {
        switch try self.peek() {
        case UInt8(ascii: "\""):
            self.cursor += 1
            try self.skipString()
        case UInt8(ascii: "{"):
            guard depth < Self.depthLimit else { throw .syntax }
            self.cursor += 1
            self.skipWhitespace()
            if try self.peek() == UInt8(ascii: "}") {
                self.cursor += 1
                return
            }
            while true {
                try self.expect(UInt8(ascii: "\""))
                try self.skipString()
                self.skipWhitespace()
                try self.expect(UInt8(ascii: ":"))
                self.skipWhitespace()
                try self.skipValue(depth: depth + 1)
                self.skipWhitespace()
                let next = try self.take()
                if next == UInt8(ascii: "}") { return }
                guard next == UInt8(ascii: ",") else { throw .syntax }
                self.skipWhitespace()
            }
        case UInt8(ascii: "["):
            guard depth < Self.depthLimit else { throw .syntax }
            self.cursor += 1
            self.skipWhitespace()
            if try self.peek() == UInt8(ascii: "]") {
                self.cursor += 1
                return
            }
            while true {
                try self.skipValue(depth: depth + 1)
                self.skipWhitespace()
                let next = try self.take()
                if next == UInt8(ascii: "]") { return }
                guard next == UInt8(ascii: ",") else { throw .syntax }
                self.skipWhitespace()
            }
        case UInt8(ascii: "t"): try self.literal("true")
        case UInt8(ascii: "f"): try self.literal("false")
        case UInt8(ascii: "n"): try self.literal("null")
        default: _ = try self.number()
        }
    }

    /// Skips the string whose opening quote was just read, checking escapes and UTF-8.
    private mutating func skipString() throws(Problem) {
        let start = self.cursor
        var ascii = true
        while true {
            let byte = try self.take()
            switch byte {
            case UInt8(ascii: "\""):
                if !ascii {
                    guard Self.isValidUTF8(UnsafeBufferPointer(start: start, count: self.cursor - 1 - start)) else {
                        throw .syntax
                    }
                }
                return
            case UInt8(ascii: "\\"):
                _ = try self.escape()
            case 0..<0x20:
                throw .syntax
            case 0x80...:
                ascii = false
            default:
                break
            }
        }
    }

    // MARK: Tokens

    /// Consumes a number by JSON's grammar; true when it is digits only (no fraction or
    /// exponent).
    private mutating func number() throws(Problem) -> Bool {
        if try self.peek() == UInt8(ascii: "-") { self.cursor += 1 }
        let first = try self.take()
        if first == UInt8(ascii: "0") {
            // No leading zeros.
        } else if first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9") {
            self.skipDigits()
        } else {
            throw .syntax
        }
        var isInteger = true
        if self.cursor < self.end, self.cursor.pointee == UInt8(ascii: ".") {
            self.cursor += 1
            guard self.skipDigits() > 0 else { throw .syntax }
            isInteger = false
        }
        if self.cursor < self.end, self.cursor.pointee | 0x20 == UInt8(ascii: "e") {
            self.cursor += 1
            if self.cursor < self.end, self.cursor.pointee == UInt8(ascii: "+") || self.cursor.pointee == UInt8(ascii: "-") {
                self.cursor += 1
            }
            guard self.skipDigits() > 0 else { throw .syntax }
            isInteger = false
        }
        return isInteger
    }

    @discardableResult
    private mutating func skipDigits() -> Int {
        let start = self.cursor
        while self.cursor < self.end, self.cursor.pointee >= UInt8(ascii: "0"), self.cursor.pointee <= UInt8(ascii: "9") {
            self.cursor += 1
        }
        return self.cursor - start
    }

    private mutating func literal(_ word: StaticString) throws(Problem) {
        let count = word.utf8CodeUnitCount
        guard self.end - self.cursor >= count else { throw .syntax }
        for index in 0..<count where self.cursor[index] != word.utf8Start[index] {
            throw .syntax
        }
        self.cursor += count
    }

    private mutating func skipWhitespace() {
        while self.cursor < self.end {
            switch self.cursor.pointee {
            case 0x20, 0x09, 0x0A, 0x0D: self.cursor += 1
            default: return
            }
        }
    }

    private func peek() throws(Problem) -> UInt8 {
        guard self.cursor < self.end else { throw .syntax }
        return self.cursor.pointee
    }

    private mutating func take() throws(Problem) -> UInt8 {
        guard self.cursor < self.end else { throw .syntax }
        defer { self.cursor += 1 }
        return self.cursor.pointee
    }

    private mutating func expect(_ byte: UInt8) throws(Problem) {
        guard try self.take() == byte else { throw .syntax }
    }
}
