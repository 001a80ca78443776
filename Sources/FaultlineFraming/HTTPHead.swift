import FaultlineCore

/// The start line and header fields of one HTTP/1.x message, parsed from a copy of its
/// head (the wire bytes are never touched).
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
    var headers: [MessageInfo.Header]

    /// Parses the head's lines, each without its line ending.
    static func parse(lines: [[UInt8]]) throws(FramingFailure) -> HTTPHead {
        guard let first = lines.first else { throw FramingFailure("empty HTTP head") }
        let startLine = try Self.parseStartLine(first)
        var headers: [MessageInfo.Header] = []
        headers.reserveCapacity(lines.count - 1)
        for line in lines.dropFirst() {
            headers.append(try Self.parseField(line))
        }
        return HTTPHead(startLine: startLine, headers: headers)
    }

    static func parseField(_ line: [UInt8]) throws(FramingFailure) -> MessageInfo.Header {
        if let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            throw FramingFailure("obsolete line folding in an HTTP header")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else {
            throw FramingFailure("HTTP header line without a name and colon")
        }
        let name = line[..<colon]
        guard name.allSatisfy(Self.isTokenByte) else {
            throw FramingFailure("HTTP header name with a byte that is not a token character")
        }
        var value = line[(colon + 1)...]
        while let byte = value.first, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { value = value.dropFirst() }
        while let byte = value.last, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { value = value.dropLast() }
        guard value.allSatisfy({ $0 == UInt8(ascii: "\t") || $0 >= 0x20 && $0 != 0x7F }) else {
            throw FramingFailure("HTTP header value with a control byte")
        }
        return MessageInfo.Header(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
    }

    private static func parseStartLine(_ line: [UInt8]) throws(FramingFailure) -> StartLine {
        let parts = line.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        if line.starts(with: Self.http1Prefix.prefix(5)) {
            guard parts.count >= 2, Self.isHTTP1Version(parts[0]) else {
                throw FramingFailure("status line is not HTTP/1.x")
            }
            let code = parts[1]
            guard code.count == 3, code.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                let status = Int(String(decoding: code, as: UTF8.self)), status >= 100
            else {
                throw FramingFailure("status line without a three-digit status")
            }
            return .status(status)
        }
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(Self.isTokenByte) else {
            throw FramingFailure("request line is not METHOD TARGET HTTP/1.x")
        }
        if parts[2].elementsEqual("HTTP/2.0".utf8) {
            throw FramingFailure("HTTP/2 with prior knowledge is not HTTP/1.1")
        }
        guard Self.isHTTP1Version(parts[2]) else { throw FramingFailure("request line is not METHOD TARGET HTTP/1.x") }
        guard !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
            throw FramingFailure("request target with a space or control byte")
        }
        return .request(method: String(decoding: parts[0], as: UTF8.self), target: String(decoding: parts[1], as: UTF8.self))
    }

    private static let http1Prefix = Array("HTTP/1.".utf8)

    private static func isHTTP1Version(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.count == 8 && bytes.starts(with: Self.http1Prefix)
            && bytes.last.map { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } == true
    }

    /// RFC 9110 `tchar`.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        Self.tokenTable[Int(byte)]
    }

    private static let tokenTable: [Bool] = (0...255).map { value in
        let byte = UInt8(value)
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    // MARK: Facts

    func values(_ name: String) -> [String] {
        self.headers.filter { Self.equalIgnoringASCIICase($0.name, name) }.map(\.value)
    }

    /// The first value of `name`, nil if absent: what most lookups need, without the
    /// array `values` builds (every message's head is asked for several).
    func firstValue(_ name: String) -> String? {
        self.headers.first { Self.equalIgnoringASCIICase($0.name, name) }?.value
    }

    /// Header names are ASCII tokens: compare without building lowercased copies.
    static func equalIgnoringASCIICase(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.count == rhs.utf8.count
            && zip(lhs.utf8, rhs.utf8).allSatisfy { a, b in
                a == b || (a | 0x20 == b | 0x20 && (a | 0x20) >= UInt8(ascii: "a") && (a | 0x20) <= UInt8(ascii: "z"))
            }
    }

    /// The body length `Content-Length` declares, nil if absent.
    ///
    /// Every field and every comma-separated item in it must be the same decimal
    /// number (RFC 9110 §8.6), spaces and tabs around an item allowed. Read byte by
    /// byte, without splitting or trimming copies: it runs for nearly every message.
    func contentLength() throws(FramingFailure) -> Int? {
        var length: Int?
        for header in self.headers where Self.equalIgnoringASCIICase(header.name, "Content-Length") {
            var item = 0
            var digits = 0
            var spaceAfterDigits = false
            var tooLarge = false
            func endItem() throws(FramingFailure) {
                guard digits > 0, !tooLarge else { throw FramingFailure("Content-Length '\(header.value)' is not a number") }
                if let length, length != item { throw FramingFailure("two different Content-Length values") }
                length = item
                (item, digits, spaceAfterDigits, tooLarge) = (0, 0, false, false)
            }
            for byte in header.value.utf8 {
                switch byte {
                case UInt8(ascii: ","):
                    try endItem()
                case UInt8(ascii: " "), UInt8(ascii: "\t"):
                    if digits > 0 { spaceAfterDigits = true }
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    guard !spaceAfterDigits else { throw FramingFailure("Content-Length '\(header.value)' is not a number") }
                    digits += 1
                    let (times, overflow) = item.multipliedReportingOverflow(by: 10)
                    let (sum, carry) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
                    if overflow || carry { tooLarge = true } else { item = sum }
                default:
                    throw FramingFailure("Content-Length '\(header.value)' is not a number")
                }
            }
            try endItem()
        }
        return length
    }

    /// The transfer codings, lowercased, in order; empty without `Transfer-Encoding`.
    var transferCodings: [String] {
        guard self.firstValue("Transfer-Encoding") != nil else { return [] }
        return self.values("Transfer-Encoding").flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces.lowercased() }
            .filter { !$0.isEmpty }
    }

    /// True when a `Connection` header lists `token`.
    func connectionHas(_ token: String) -> Bool {
        self.values("Connection").flatMap { $0.split(separator: ",") }.contains { $0.trimmingSpaces.lowercased() == token }
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
