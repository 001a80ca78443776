import FaultlineCore

/// The start line and header fields of one HTTP/1.x message, parsed in place from its
/// head's bytes (the wire bytes are never touched, and no line is copied to parse it).
///
/// Strict where leniency could frame differently from the server (two different
/// `Content-Length`s, folded header lines, a transfer coding on a request that does not
/// end in `chunked`): those make the connection raw rather than guess.
struct HTTPHead {
    enum StartLine: Equatable {
        case request(method: String, target: String)
        case status(Int)
    }

    var startLine: StartLine
    /// The field lines, checked, as they came: strings are made only for fields asked for.
    var fieldLines: FieldLines
    /// Which of the fields the framer asks about by name are here. Most heads have
    /// few of them, and a lookup by name compares every field's name: several lookups
    /// a message, on every message.
    private var known: KnownFields = []
    /// The body length `Content-Length` declares (nil without one), or why it is not a
    /// length: read as the head is parsed, since nearly every message asks, and thrown
    /// only when asked for (`contentLength()`).
    private var declaredLength = DeclaredLength()

    private struct KnownFields: OptionSet {
        var rawValue: UInt8
        init(rawValue: UInt8) { self.rawValue = rawValue }
        static let contentLength = KnownFields(rawValue: 1 << 0)
        static let transferEncoding = KnownFields(rawValue: 1 << 1)
        static let idempotencyKey = KnownFields(rawValue: 1 << 2)
        static let upgrade = KnownFields(rawValue: 1 << 3)

        /// The field named `name` is, if one of these: the bytes of a field name just
        /// parsed, compared with ASCII case ignored.
        init(name: UnsafeRawBufferPointer) {
            if Self.is(name, "Content-Length") {
                self = .contentLength
            } else if Self.is(name, "Transfer-Encoding") {
                self = .transferEncoding
            } else if Self.is(name, "Idempotency-Key") {
                self = .idempotencyKey
            } else if Self.is(name, "Upgrade") {
                self = .upgrade
            } else {
                self = []
            }
        }

        /// Lengths first: most names differ there, and a comparison stops at once.
        private static func `is`(_ name: UnsafeRawBufferPointer, _ field: StaticString) -> Bool {
            name.count == field.utf8CodeUnitCount && field.withUTF8Buffer { field in
                zip(name, field).allSatisfy(MessageInfo.Header.sameIgnoringASCIICase)
            }
        }
    }

    /// A head built from fields already parsed (tests).
    init(startLine: StartLine, headers: [MessageInfo.Header]) {
        var known: KnownFields = []
        var declaredLength = DeclaredLength()
        for header in headers {
            var name = header.name
            var value = header.value
            let field = name.withUTF8 { KnownFields(name: UnsafeRawBufferPointer($0)) }
            known.formUnion(field)
            if field == .contentLength {
                value.withUTF8 { declaredLength.read(UnsafeRawBufferPointer($0)) }
            }
        }
        self.init(startLine: startLine, fieldLines: FieldLines(headers), known: known, declaredLength: declaredLength)
    }

    private init(startLine: StartLine, fieldLines: FieldLines, known: KnownFields, declaredLength: DeclaredLength) {
        self.startLine = startLine
        self.fieldLines = fieldLines
        self.known = known
        self.declaredLength = declaredLength
    }

    /// Every field, as strings.
    var headers: [MessageInfo.Header] {
        self.fieldLines.headers
    }

    /// Parses a head: the start line, the field lines, each ended by `\n` or `\r\n`, up
    /// to the empty line that ends it (or the end of `head`).
    static func parse(head: UnsafeRawBufferPointer) throws(FramingFailure) -> HTTPHead {
        var lineStart = 0
        var startLine: StartLine?
        var known: KnownFields = []
        var declaredLength = DeclaredLength()
        var nameLengths: UInt64 = 0
        var fieldsStart = head.count
        var fieldsEnd = head.count
        while lineStart < head.count {
            let newline = head.offsetOfNewline(from: lineStart) ?? head.count
            let line = Self.line(head, from: lineStart, to: newline)
            let isFirst = lineStart == 0
            defer { lineStart = newline + 1 }
            if isFirst {
                startLine = try Self.parseStartLine(line)
                fieldsStart = min(newline + 1, head.count)
            } else if line.isEmpty {
                fieldsEnd = lineStart
                break
            } else {
                let nameLength = try Self.parseField(line)
                let field = KnownFields(name: UnsafeRawBufferPointer(rebasing: line[..<nameLength]))
                known.formUnion(field)
                nameLengths |= FieldLines.nameLengthBit(nameLength)
                if field == .contentLength {
                    declaredLength.read(UnsafeRawBufferPointer(rebasing: line[(nameLength + 1)...]))
                }
            }
        }
        guard let startLine else { throw FramingFailure("empty HTTP head") }
        let fieldLines = FieldLines(fieldsStart < fieldsEnd ? Array(head[fieldsStart..<fieldsEnd]) : [], nameLengths: nameLengths)
        return HTTPHead(startLine: startLine, fieldLines: fieldLines, known: known, declaredLength: declaredLength)
    }

    /// The bytes from `start` to `newline`, without a `\r` before the `\n`.
    static func line(_ bytes: UnsafeRawBufferPointer, from start: Int, to newline: Int) -> UnsafeRawBufferPointer {
        var end = newline
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// Checks one field line, without its line ending; returns how long its name is.
    static func parseField(_ line: UnsafeRawBufferPointer) throws(FramingFailure) -> Int {
        if let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            throw FramingFailure("obsolete line folding in an HTTP header")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else {
            throw FramingFailure("HTTP header line without a name and colon")
        }
        for index in 0..<colon where !Self.isTokenByte(line[index]) {
            throw FramingFailure("HTTP header name with a byte that is not a token character")
        }
        var valueStart = colon + 1
        var valueEnd = line.count
        while valueStart < valueEnd, line[valueStart] == UInt8(ascii: " ") || line[valueStart] == UInt8(ascii: "\t") {
            valueStart += 1
        }
        while valueEnd > valueStart, line[valueEnd - 1] == UInt8(ascii: " ") || line[valueEnd - 1] == UInt8(ascii: "\t") {
            valueEnd -= 1
        }
        for index in valueStart..<valueEnd {
            let byte = line[index]
            guard byte == UInt8(ascii: "\t") || byte >= 0x20 && byte != 0x7F else {
                throw FramingFailure("HTTP header value with a control byte")
            }
        }
        return colon
    }

    /// A request line (`METHOD TARGET HTTP/1.x`) or a status line (`HTTP/1.x NNN …`).
    static func parseStartLine(_ line: UnsafeRawBufferPointer) throws(FramingFailure) -> StartLine {
        // Up to three parts split at single spaces; the third (a reason phrase) may hold more.
        let firstSpace = line.firstIndex(of: UInt8(ascii: " "))
        let secondSpace = firstSpace.flatMap { space in line[(space + 1)...].firstIndex(of: UInt8(ascii: " ")) }
        let first = line[..<(firstSpace ?? line.count)]
        let second = firstSpace.map { line[($0 + 1)..<(secondSpace ?? line.count)] }
        let third = secondSpace.map { line[($0 + 1)...] }
        if line.starts(with: Self.http1Prefix.prefix(5)) {
            guard let code = second, Self.isHTTP1Version(first) else {
                throw FramingFailure("status line is not HTTP/1.x")
            }
            guard code.count == 3, code.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                throw FramingFailure("status line without a three-digit status")
            }
            let status = code.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard status >= 100 else { throw FramingFailure("status line without a three-digit status") }
            return .status(status)
        }
        guard let target = second, let version = third, !first.isEmpty, first.allSatisfy(Self.isTokenByte) else {
            throw FramingFailure("request line is not METHOD TARGET HTTP/1.x")
        }
        if version.elementsEqual("HTTP/2.0".utf8) {
            throw FramingFailure("HTTP/2 with prior knowledge is not HTTP/1.1")
        }
        guard Self.isHTTP1Version(version) else { throw FramingFailure("request line is not METHOD TARGET HTTP/1.x") }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
            throw FramingFailure("request target with a space or control byte")
        }
        return .request(method: String(decoding: first, as: UTF8.self), target: String(decoding: target, as: UTF8.self))
    }

    private static let http1Prefix = Array("HTTP/1.".utf8)

    private static func isHTTP1Version(_ bytes: Slice<UnsafeRawBufferPointer>) -> Bool {
        bytes.count == 8 && bytes.starts(with: Self.http1Prefix)
            && bytes.last.map { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } == true
    }

    /// RFC 9110 `tchar`.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        // Two 64-bit masks of the ASCII token bytes: a shift and a test per byte, where a
        // table in a static array cost a lazy-initialisation check and a bounds check.
        switch byte {
        case 0..<64: return Self.tokenMaskLow >> UInt64(byte) & 1 == 1
        case 64..<128: return Self.tokenMaskHigh >> UInt64(byte - 64) & 1 == 1
        default: return false
        }
    }

    /// Bit n set when byte n (low) or 64 + n (high) is a token character: digits and
    /// ``!#$%&'*+-.`` below 64; letters and ``^_`|~`` above.
    private static let tokenMaskLow: UInt64 = 0x03FF_6CFA_0000_0000
    private static let tokenMaskHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    // MARK: Facts

    func values(_ name: String) -> [String] {
        self.fieldLines.values(named: name)
    }

    /// The `Idempotency-Key` field's first value.
    var idempotencyKey: String? {
        self.known.contains(.idempotencyKey) ? self.firstValue("Idempotency-Key") : nil
    }

    /// The `Upgrade` field's first value.
    var upgrade: String? {
        self.known.contains(.upgrade) ? self.firstValue("Upgrade") : nil
    }

    /// The first value of `name`, nil if absent: what most lookups need, without the
    /// array `values` builds (every message's head is asked for several).
    func firstValue(_ name: String) -> String? {
        self.fieldLines.first(named: name)
    }

    /// The body length `Content-Length` declares, nil if absent.
    func contentLength() throws(FramingFailure) -> Int? {
        try self.declaredLength.get()
    }

    /// What the `Content-Length` fields declare, read field by field as the head is
    /// parsed.
    private struct DeclaredLength {
        var length: Int?
        /// Why the fields declare no length: thrown when the length is asked for.
        var failure: FramingFailure?

        func get() throws(FramingFailure) -> Int? {
            if let failure { throw failure }
            return self.length
        }

        /// Reads one field's value (the bytes after its colon).
        ///
        /// Every field and every comma-separated item in it must be the same decimal
        /// number (RFC 9110 §8.6), spaces and tabs around an item allowed. Read byte by
        /// byte, without splitting or trimming copies: it runs for nearly every message.
        mutating func read(_ value: UnsafeRawBufferPointer) {
            guard self.failure == nil else { return }
            var declared = self.length
            var item = 0
            var digits = 0
            var spaceAfterDigits = false
            var tooLarge = false
            func notANumber() -> FramingFailure {
                FramingFailure("Content-Length '\(String(decoding: value, as: UTF8.self).trimmingSpaces)' is not a number")
            }
            func endItem() throws(FramingFailure) {
                guard digits > 0, !tooLarge else { throw notANumber() }
                if let declared, declared != item { throw FramingFailure("two different Content-Length values") }
                declared = item
                (item, digits, spaceAfterDigits, tooLarge) = (0, 0, false, false)
            }
            do throws(FramingFailure) {
                for byte in value {
                    switch byte {
                    case UInt8(ascii: ","):
                        try endItem()
                    case UInt8(ascii: " "), UInt8(ascii: "\t"):
                        if digits > 0 { spaceAfterDigits = true }
                    case UInt8(ascii: "0")...UInt8(ascii: "9"):
                        guard !spaceAfterDigits else { throw notANumber() }
                        digits += 1
                        let (times, overflow) = item.multipliedReportingOverflow(by: 10)
                        let (sum, carry) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                        if overflow || carry { tooLarge = true } else { item = sum }
                    default:
                        throw notANumber()
                    }
                }
                try endItem()
                self.length = declared
            } catch {
                self.failure = error
            }
        }
    }

    /// The transfer codings, lowercased, in order; empty without `Transfer-Encoding`.
    var transferCodings: [String] {
        guard self.known.contains(.transferEncoding) else { return [] }
        return self.values("Transfer-Encoding").flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces.lowercased() }
            .filter { !$0.isEmpty }
    }
}

/// Why bytes are not the protocol a framer expected, or exceed a limit.
struct FramingFailure: Error {
    var reason: String

    init(_ reason: String) {
        self.reason = reason
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
