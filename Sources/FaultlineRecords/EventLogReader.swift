#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FaultlineCore
import Foundation

/// Reads an event log (JSON Lines) back into `Event`s, strictly, one line at a time.
///
/// Every line must be one JSON object of a format version this build knows; blank lines
/// (spaces, tabs, a CR) are allowed. The first bad line stops the read with an
/// `EventLogError` naming `FILE:LINE` and what is wrong there, because a checker that
/// skipped lines could pass a run it never saw.
///
/// `forEach` streams: it reads the file in blocks and hands each event on before the
/// next line is parsed, so memory is one block plus the longest line, whatever the log's
/// length. A line that runs past the end of a block is moved to the front and the block
/// refilled behind it; a line longer than the block grows the buffer to fit.
///
///     block 1: {"v":1,…}\n{"v":1,…}\n{"v":1,"ty      ← the cut line waits for the next read
///     block 2: {"v":1,"type":"message",…}\n{"v":1…   ← moved to the front, block refilled
///
/// A last line without its newline is parsed too; if it is not valid JSON it is reported
/// as cut off (a log still being written), not as garbage.
package enum EventLogReader {
    /// Bytes read from the file at a time.
    package static let defaultBlockSize = 1 << 20
    /// The longest line read: a `message` event carrying the payload of an 8 MiB message
    /// (the default `--max-message-size`) in base64 is under 12 MiB. A longer line stops
    /// the read, so a damaged or hostile log cannot make the reader hold gigabytes.
    package static let defaultMaxLineBytes = 64 << 20

    /// Calls `body` with each event of the log at `path` and its 1-based line number.
    ///
    /// Errors thrown by `body` stop the read and are rethrown as they are.
    package static func forEach(
        path: String,
        blockSize: Int = Self.defaultBlockSize,
        maxLineBytes: Int = Self.defaultMaxLineBytes,
        _ body: (Event, Int) throws -> Void
    ) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let reason = errno == ENOENT ? "no such file" : "cannot read the file"
            throw EventLogError(file: path, line: nil, message: reason)
        }
        defer { close(descriptor) }
        try Self.stream(file: path, blockSize: blockSize, maxLineBytes: maxLineBytes, body: body) { buffer in
            while true {
                let count = Self.systemRead(descriptor, buffer)
                if count >= 0 { return count }
                if errno != EINTR { throw EventLogError(file: path, line: nil, message: "cannot read the file") }
            }
        }
    }

    /// Calls `body` with each event of log text and its 1-based line number; `file`
    /// only names it in errors. `blockSize` splits `data` as `forEach(path:)` splits a
    /// file (tests use a small one to put lines across block boundaries).
    package static func forEach(
        data: Data,
        file: String,
        blockSize: Int = Self.defaultBlockSize,
        maxLineBytes: Int = Self.defaultMaxLineBytes,
        _ body: (Event, Int) throws -> Void
    ) throws {
        var offset = 0
        try Self.stream(file: file, blockSize: blockSize, maxLineBytes: maxLineBytes, body: body) { buffer in
            let count = min(buffer.count, data.count - offset)
            let start = data.startIndex + offset
            _ = data.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: start..<start + count)
            offset += count
            return count
        }
    }

    /// Reads and parses the file at `path`: every event in memory at once, for callers
    /// that need them all (export, tests). `forEach(path:)` streams.
    package static func read(path: String) throws -> [Event] {
        var events: [Event] = []
        try Self.forEach(path: path) { event, _ in events.append(event) }
        return events
    }

    /// Parses log text; `file` only names it in errors.
    package static func parse(_ data: Data, file: String, blockSize: Int = Self.defaultBlockSize) throws -> [Event] {
        var events: [Event] = []
        try Self.forEach(data: data, file: file, blockSize: blockSize) { event, _ in events.append(event) }
        return events
    }

    /// The block loop: fills a buffer with `read` (which returns 0 at the end), splits
    /// it into lines and parses each.
    private static func stream(
        file: String,
        blockSize: Int,
        maxLineBytes: Int,
        body: (Event, Int) throws -> Void,
        read: (UnsafeMutableRawBufferPointer) throws -> Int
    ) throws {
        var capacity = max(blockSize, 1)
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var parser = EventLogLineParser()
        var lineNumber = 0
        // The bytes not yet split into lines are buffer[start..<end].
        var start = 0
        var end = 0
        var atEnd = false
        while true {
            let base = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            while start < end, let newline = memchr(base + start, 0x0A, end - start) {
                let stop = newline.assumingMemoryBound(to: UInt8.self) - base
                lineNumber += 1
                let line = UnsafeBufferPointer(start: base + start, count: stop - start)
                start = stop + 1
                if let event = try Self.parseLine(line, number: lineNumber, complete: true, file: file, parser: &parser) {
                    try body(event, lineNumber)
                }
            }
            if atEnd {
                if start < end {
                    lineNumber += 1
                    let line = UnsafeBufferPointer(start: base + start, count: end - start)
                    if let event = try Self.parseLine(line, number: lineNumber, complete: false, file: file, parser: &parser) {
                        try body(event, lineNumber)
                    }
                }
                return
            }
            // Keep the unfinished line: move it to the front, or grow the buffer when it
            // fills the whole of it.
            if start > 0 {
                if end > start { memmove(base, base + start, end - start) }
                end -= start
                start = 0
            }
            if end == capacity {
                if end > maxLineBytes {
                    throw EventLogError(
                        file: file, line: lineNumber + 1,
                        message: "a line longer than \(maxLineBytes >= 1 << 20 ? "\(maxLineBytes >> 20) MiB" : "\(maxLineBytes) bytes"); no event is that long (is this an event log?)"
                    )
                }
                capacity = min(capacity * 2, maxLineBytes + 1)
                let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
                bigger.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[0..<end]))
                buffer.deallocate()
                buffer = bigger
            }
            let count = try read(UnsafeMutableRawBufferPointer(rebasing: buffer[end..<capacity]))
            if count == 0 { atEnd = true } else { end += count }
        }
    }

    /// read(2), named apart from `read(path:)`.
    private static func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
        #if canImport(Glibc)
        Glibc.read(descriptor, buffer.baseAddress, buffer.count)
        #elseif canImport(Musl)
        Musl.read(descriptor, buffer.baseAddress, buffer.count)
        #else
        Darwin.read(descriptor, buffer.baseAddress, buffer.count)
        #endif
    }

    /// The event on one line, nil for a blank line.
    private static func parseLine(
        _ line: UnsafeBufferPointer<UInt8>,
        number: Int,
        complete: Bool,
        file: String,
        parser: inout EventLogLineParser
    ) throws(EventLogError) -> Event? {
        if line.first != UInt8(ascii: "{"), line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
            return nil
        }
        do {
            return try parser.parse(line)
        } catch {
            throw EventLogError(file: file, line: number, message: Self.message(error, line: line, complete: complete))
        }
    }

    /// What the person at the terminal reads for `problem`.
    static func message(_ problem: EventLogLineParser.Problem, line: UnsafeBufferPointer<UInt8>, complete: Bool) -> String {
        switch problem {
        case .syntax:
            if !complete { return "the last line is cut off (was the log still being written?)" }
            return "not a JSON object: \(Self.preview(line))"
        case .noVersion:
            return "no format version \"v\"; is this a faultline event log?"
        case .unsupportedVersion(let version):
            return "format version \(version) is not supported (this build reads versions 1 to \(Event.formatVersion))"
        case .noType:
            return "no event \"type\""
        case .unknownType(let type):
            return "unknown event type '\(type)'"
        case .wrongType(let field, let expected):
            return "field '\(field)' should be \(expected)"
        case .notAllowed(let field):
            return "field '\(field)' has a value that is not allowed"
        }
    }

    private static func preview(_ line: UnsafeBufferPointer<UInt8>) -> String {
        let text = String(decoding: line.prefix(60), as: UTF8.self)
        return line.count > 60 ? "'\(text)…'" : "'\(text)'"
    }
}
