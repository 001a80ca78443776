import FaultlineCore
import NIOCore

/// Redis RESP2 and RESP3 values, one message per top-level value, in either direction.
///
///     read:   | *1\r\n$4\r\nPI | NG\r\nPING\r\n |
///     units:  | *1\r\n$4\r\nPING\r\n | PING\r\n |        (the second is an inline command)
///
/// Every RESP3 type is known: simple, blob and verbatim strings, errors, integers,
/// doubles, booleans, big numbers, nulls, arrays, maps, sets, pushes, streamed strings
/// and aggregates (`$?`, `*?` … `.`), and attributes (`|`), which belong to the value
/// after them. Commands sent to the server may also be inline (`PING\r\n`). Parsing
/// resumes where it stopped, so a large value fed in small reads is read once.
/// Anything else, a line over `maxHeaderBytes`, or a value over `maxMessageBytes`,
/// makes the rest of the connection's direction raw.
package struct RESPFramer: MessageFramer {
    private let role: MessageInfo.Role
    private let limits: FramingLimits
    private var fallback: String?

    /// Where the next token of the current message starts.
    private var offset = 0
    /// Open aggregates, innermost last.
    private var stack: [Frame] = []
    /// The first element of a top-level command array is its name.
    private var wantCommand = false
    private var command: String?
    /// The first words of a command (uppercased bulk strings of the top-level array, or
    /// of an inline command), enough to spot `CLIENT REPLY OFF|SKIP`.
    private var words: [String] = []
    private var collectingWords = false
    /// No `\n` lies between `offset` and this: a long line fed in small reads is
    /// searched once, not once per read.
    private var searched = 0

    private struct Frame {
        enum Kind {
            case aggregate
            case streamedAggregate
            case streamedString
        }

        var kind: Kind
        /// Elements still to come (`Int.max` for a streamed aggregate).
        var remaining: Int
        /// An attribute map: it does not count as an element of its parent.
        var isAttribute: Bool
    }

    /// Words of a command kept: `CLIENT REPLY OFF` is three.
    static let wordsKept = 3

    /// How deep aggregates may nest before the connection is carried raw.
    static let maxDepth = 256

    package init(role: MessageInfo.Role, limits: FramingLimits = FramingLimits()) {
        self.role = role
        self.limits = limits
    }

    package mutating func decode(buffer: inout ByteBuffer) -> FramingStep {
        if let fallback = self.fallback { return .raw(reason: fallback) }
        // One pass over the bytes in place: ByteBuffer accessors per token cost more
        // than the parsing itself.
        switch buffer.withUnsafeReadableBytes({ self.scan($0) }) {
        case .complete: return self.take(from: &buffer)
        case .needMore: return .needMoreData
        case .failed(let reason): return self.fail(reason)
        }
    }

    private enum Scan {
        case complete
        case needMore
        case failed(String)
    }

    /// Parses on from `offset`; `.complete` when the top-level value ends at `offset`.
    private mutating func scan(_ buffer: UnsafeRawBufferPointer) -> Scan {
        while true {
            guard let newline = buffer.offsetOfNewline(from: max(self.offset, self.searched)) else {
                self.searched = buffer.readableBytes
                if buffer.readableBytes - self.offset > self.limits.maxHeaderBytes {
                    return .failed("a RESP line longer than the \(self.limits.maxHeaderBytes)-byte header limit")
                }
                if let reason = self.implausibleLine(buffer) { return .failed(reason) }
                return .needMore
            }
            guard let type = buffer.byte(at: self.offset) else { return .needMore }
            let lineStart = self.offset
            let complete: Bool
            if let top = self.stack.last, top.kind == .streamedString {
                guard type == UInt8(ascii: ";") else { return .failed("streamed string part without ';'") }
                guard let size = self.integer(buffer, lineStart: lineStart, newline: newline), size >= 0 else {
                    return .failed("malformed streamed string part length")
                }
                if size == 0 {
                    self.offset = newline + 1
                    self.stack.removeLast()
                    complete = self.finishValue(isAttribute: false)
                } else {
                    switch self.skipBlob(buffer, dataStart: newline + 1, size: size) {
                    case .failed(let reason): return .failed(reason)
                    case .incomplete: return .needMore
                    case .skipped(let next): self.offset = next
                    }
                    continue
                }
            } else {
                switch type {
                case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ","), UInt8(ascii: "("):
                    guard self.endsWithCRLF(buffer, newline: newline) else { return .failed("RESP line without CRLF") }
                    self.offset = newline + 1
                    complete = self.finishValue(isAttribute: false)
                case UInt8(ascii: ":"):
                    guard self.integer(buffer, lineStart: lineStart, newline: newline) != nil else {
                        return .failed("malformed RESP integer")
                    }
                    self.offset = newline + 1
                    complete = self.finishValue(isAttribute: false)
                case UInt8(ascii: "_"), UInt8(ascii: "#"):
                    let content = self.content(buffer, lineStart: lineStart, newline: newline)
                    let valid = type == UInt8(ascii: "_") ? content == [] : content == [UInt8(ascii: "t")] || content == [UInt8(ascii: "f")]
                    guard valid else { return .failed("malformed RESP3 null or boolean") }
                    self.offset = newline + 1
                    complete = self.finishValue(isAttribute: false)
                case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
                    if type == UInt8(ascii: "$"), self.isStreamedMarker(buffer, lineStart: lineStart, newline: newline) {
                        guard let reason = self.push(Frame(kind: .streamedString, remaining: .max, isAttribute: false)) else {
                            self.offset = newline + 1
                            continue
                        }
                        return .failed(reason)
                    }
                    guard let size = self.integer(buffer, lineStart: lineStart, newline: newline), size >= -1 else {
                        return .failed("malformed RESP blob length")
                    }
                    if size == -1 {
                        self.offset = newline + 1
                    } else {
                        switch self.skipBlob(buffer, dataStart: newline + 1, size: size) {
                        case .failed(let reason): return .failed(reason)
                        case .incomplete: return .needMore
                        case .skipped(let next):
                            if self.stack.count == 1, type == UInt8(ascii: "$"), self.wantCommand || self.collectingWords {
                                let word = Self.commandName(buffer.bytes(in: (newline + 1)..<(newline + 1 + min(size, 64))))
                                if self.wantCommand { self.command = word }
                                self.words.append(word ?? "")
                                // Only CLIENT needs its next words; other commands keep one.
                                self.collectingWords = self.words[0] == "CLIENT" && self.words.count < Self.wordsKept
                            }
                            self.offset = next
                        }
                    }
                    complete = self.finishValue(isAttribute: false)
                case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
                    let isAttribute = type == UInt8(ascii: "|")
                    if !isAttribute, self.isStreamedMarker(buffer, lineStart: lineStart, newline: newline) {
                        if let reason = self.push(Frame(kind: .streamedAggregate, remaining: .max, isAttribute: false)) {
                            return .failed(reason)
                        }
                        self.offset = newline + 1
                        continue
                    }
                    guard let count = self.integer(buffer, lineStart: lineStart, newline: newline), count >= -1 else {
                        return .failed("malformed RESP aggregate length")
                    }
                    guard count <= self.limits.maxMessageBytes else {
                        return .failed("a RESP aggregate of \(count) elements exceeds the message limit")
                    }
                    self.offset = newline + 1
                    if count <= 0 {
                        complete = self.finishValue(isAttribute: isAttribute)
                    } else {
                        let pairs = type == UInt8(ascii: "%") || isAttribute
                        if self.stack.isEmpty, type == UInt8(ascii: "*"), self.role == .request {
                            self.wantCommand = true
                            self.collectingWords = true
                        }
                        if let reason = self.push(Frame(kind: .aggregate, remaining: pairs ? count * 2 : count, isAttribute: isAttribute)) {
                            return .failed(reason)
                        }
                        continue
                    }
                case UInt8(ascii: "."):
                    guard let top = self.stack.last, top.kind == .streamedAggregate,
                        self.endsWithCRLF(buffer, newline: newline), newline == lineStart + 2
                    else {
                        return .failed("'.' outside a streamed aggregate")
                    }
                    self.offset = newline + 1
                    self.stack.removeLast()
                    complete = self.finishValue(isAttribute: false)
                default:
                    guard self.stack.isEmpty, lineStart == 0, self.role == .request else {
                        return .failed("not RESP: a value starting with byte 0x\(String(type, radix: 16))")
                    }
                    let line = buffer.line(from: lineStart, newline: newline)
                    guard line.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == UInt8(ascii: "\t") }) else {
                        return .failed("control byte in an inline command")
                    }
                    self.words = line.split { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }.prefix(Self.wordsKept).map {
                        Self.commandName(Array($0)) ?? ""
                    }
                    self.command = self.words.first
                    self.offset = newline + 1
                    complete = true
                }
            }
            if self.offset > self.limits.maxMessageBytes {
                return .failed("a RESP value exceeds the \(self.limits.maxMessageBytes)-byte message limit")
            }
            if complete { return .complete }
        }
    }

    // MARK: Values

    /// A value just ended: counts it against the open aggregates, closing those it
    /// fills. Returns true when the top-level value (the message) is complete.
    private mutating func finishValue(isAttribute: Bool) -> Bool {
        var completedIsAttribute = isAttribute
        while !self.stack.isEmpty {
            if completedIsAttribute { return false }  // an attribute precedes the element it annotates
            if self.stack.count == 1 { self.wantCommand = false }
            self.stack[self.stack.count - 1].remaining -= 1
            if self.stack[self.stack.count - 1].remaining > 0 { return false }
            completedIsAttribute = self.stack.removeLast().isAttribute
        }
        return !completedIsAttribute
    }

    private mutating func push(_ frame: Frame) -> String? {
        guard self.stack.count < Self.maxDepth else { return "RESP aggregates nested deeper than \(Self.maxDepth)" }
        self.stack.append(frame)
        return nil
    }

    private enum Blob {
        case skipped(next: Int)
        case incomplete
        case failed(String)
    }

    /// Steps over `size` bytes of blob data and the CRLF after it.
    private func skipBlob(_ buffer: UnsafeRawBufferPointer, dataStart: Int, size: Int) -> Blob {
        let (end, overflow) = dataStart.addingReportingOverflow(size)
        guard !overflow, end + 2 <= self.limits.maxMessageBytes else {
            return .failed("a RESP blob of \(size) bytes exceeds the \(self.limits.maxMessageBytes)-byte message limit")
        }
        guard buffer.readableBytes >= end + 2 else { return .incomplete }
        guard buffer.byte(at: end) == UInt8(ascii: "\r"), buffer.byte(at: end + 1) == UInt8(ascii: "\n") else {
            return .failed("RESP blob not followed by CRLF")
        }
        return .skipped(next: end + 2)
    }

    private mutating func take(from buffer: inout ByteBuffer) -> FramingStep {
        let length = self.offset
        let command = self.command
        let silencesReplies = self.words.count >= 3 && self.words[0] == "CLIENT" && self.words[1] == "REPLY"
            && ["OFF", "SKIP"].contains(self.words[2])
        self.offset = 0
        self.searched = 0
        self.stack.removeAll(keepingCapacity: true)
        self.wantCommand = false
        self.command = nil
        self.words.removeAll(keepingCapacity: true)  // no copy of it is held: its storage is reused
        self.collectingWords = false
        guard let bytes = buffer.readSlice(length: length) else { return .needMoreData }
        guard self.role == .request else { return .message(bytes: bytes, info: MessageInfo(role: self.role)) }
        var info = MessageInfo(role: .request, command: command, fingerprint: RequestFingerprint.of(bytes))
        if silencesReplies { info.silencesReplies = true }
        return .message(bytes: bytes, info: info)
    }

    // MARK: Lines

    private func endsWithCRLF(_ buffer: UnsafeRawBufferPointer, newline: Int) -> Bool {
        newline > self.offset && buffer.byte(at: newline - 1) == UInt8(ascii: "\r")
    }

    /// Whether the line after its type byte is `?` with its CRLF (a RESP3 streamed
    /// string or aggregate), read in place: `$` and `*` lines come with every command.
    private func isStreamedMarker(_ buffer: UnsafeRawBufferPointer, lineStart: Int, newline: Int) -> Bool {
        newline == lineStart + 3 && buffer.byte(at: lineStart + 1) == UInt8(ascii: "?")
            && buffer.byte(at: lineStart + 2) == UInt8(ascii: "\r")
    }

    /// The line after its type byte, without CRLF; nil content if the CR is missing.
    private func content(_ buffer: UnsafeRawBufferPointer, lineStart: Int, newline: Int) -> [UInt8]? {
        guard newline >= lineStart + 2, buffer.byte(at: newline - 1) == UInt8(ascii: "\r") else { return nil }
        return buffer.bytes(in: (lineStart + 1)..<(newline - 1))
    }

    /// The integer after the type byte (`:-12`, `$5`, `*3`), read in place: this runs
    /// for every RESP value.
    private func integer(_ raw: UnsafeRawBufferPointer, lineStart: Int, newline: Int) -> Int? {
        do {
            guard newline >= lineStart + 3, newline < raw.count, raw[newline - 1] == UInt8(ascii: "\r") else { return nil }
            var index = lineStart + 1
            let end = newline - 1
            var negative = false
            if raw[index] == UInt8(ascii: "-") || raw[index] == UInt8(ascii: "+") {
                negative = raw[index] == UInt8(ascii: "-")
                index += 1
            }
            guard index < end, end - index <= 19 else { return nil }
            var value = 0
            while index < end {
                let digit = raw[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(Int(digit))
                guard !overflow1, !overflow2 else { return nil }
                value = sum
                index += 1
            }
            return negative ? -value : value
        }
    }

    /// Says why an unfinished line cannot become valid RESP (TLS, binary, another
    /// protocol), so such a connection turns raw at its first bytes.
    private func implausibleLine(_ buffer: UnsafeRawBufferPointer) -> String? {
        guard let type = buffer.byte(at: self.offset) else { return nil }
        let prefix = buffer.bytes(in: (self.offset + 1)..<min(buffer.readableBytes, self.offset + 24))
        switch type {
        case UInt8(ascii: "$"), UInt8(ascii: "*"), UInt8(ascii: "%"), UInt8(ascii: "~"), UInt8(ascii: ">"),
            UInt8(ascii: "|"), UInt8(ascii: "!"), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: ";"):
            let valid = prefix.allSatisfy {
                $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "?")
                    || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "\r")
            }
            return valid ? nil : "not RESP: a length that is not a number"
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ","), UInt8(ascii: "("), UInt8(ascii: "_"),
            UInt8(ascii: "#"), UInt8(ascii: "."):
            return nil
        default:
            if self.stack.isEmpty, self.offset == 0, self.role == .request {
                let line = buffer.bytes(in: 0..<min(buffer.readableBytes, 64))
                let valid = line.allSatisfy { $0 >= 0x20 && $0 != 0x7F || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }
                return valid ? nil : "not RESP: binary bytes where a command was expected"
            }
            return "not RESP: a value starting with byte 0x\(String(type, radix: 16))"
        }
    }

    static func commandName(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty else { return nil }
        return String(decoding: bytes, as: UTF8.self).uppercased()
    }

    private mutating func fail(_ reason: String) -> FramingStep {
        self.fallback = reason
        return .raw(reason: reason)
    }
}
