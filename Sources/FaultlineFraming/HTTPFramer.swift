import FaultlineCore
import NIOCore

/// HTTP/1.1 messages in one direction of a connection: requests from the client,
/// responses from the server.
///
///     read:   | POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET | /b HTTP/1.1\r\n\r\n |
///     units:  | POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi | GET /b HTTP/1.1\r\n\r\n |
///
/// Bodies are delimited as RFC 9112 §6 says: `Transfer-Encoding: chunked` (chunk
/// extensions and trailers kept as they are), else `Content-Length`, else none for a
/// request and "until the connection closes" for a response. Responses to `HEAD`, 1xx,
/// 204 and 304 have no body, so the two framers of a connection share the connection's
/// `Exchange`, through which the response side learns each request's method, in order. Interim 1xx
/// responses are messages of their own.
///
/// A request with `Upgrade`, or `CONNECT`, ends framing in the request direction after
/// that request; a `101` or a 2xx to `CONNECT` ends it in the response direction after
/// that response head: what follows is another protocol and is carried raw. Anything
/// that does not parse, or exceeds `FramingLimits`, ends framing the same way, with
/// the reason. Nothing is ever rewritten.
package struct HTTPFramer: MessageFramer {
    private let role: MessageInfo.Role
    private let exchange: Exchange
    private let limits: FramingLimits
    private var state: State = .head(scanFrom: 0, startLineAt: nil)
    /// No `\n` lies between the current line's start and this offset: a long line fed
    /// in small reads is searched once, not once per read.
    private var searched = 0

    private enum State {
        /// Looking for the empty line that ends the head; lines before `scanFrom` are read.
        case head(scanFrom: Int, startLineAt: Int?)
        case body(Body)
        case raw(String)
    }

    private struct Body {
        var info: MessageInfo
        /// Response side: the request answered, if known.
        var request: MessageInfo?
        var fingerprint: RequestFingerprint?
        var delimiter: Delimiter
        /// A final response (not 1xx): completing it dequeues its request.
        var isFinalResponse: Bool
        /// Set when the connection's direction becomes another protocol after this message.
        var rawAfterwards: String?
    }

    /// Where the body is in its framing; offsets from the start of the message.
    private enum Delimiter {
        case none(end: Int)
        case fixed(bodyStart: Int, end: Int)
        case chunkSize(at: Int)
        case chunkData(start: Int, size: Int)
        case trailers(at: Int, start: Int)
        case untilClose
    }

    /// The longest chunk-size line (size and extensions) accepted.
    static let maxChunkLine = 4096

    init(role: MessageInfo.Role, exchange: Exchange, limits: FramingLimits) {
        self.role = role
        self.exchange = exchange
        self.limits = limits
    }

    /// The two framers of one connection, sharing what the response side needs to know
    /// (`FramingSession` passes the connection's exchange; alone, they make their own).
    package static func pair(
        limits: FramingLimits = FramingLimits(),
        exchange: Exchange = Exchange(framing: .http)
    ) -> (request: HTTPFramer, response: HTTPFramer) {
        return (
            HTTPFramer(role: .request, exchange: exchange, limits: limits),
            HTTPFramer(role: .response, exchange: exchange, limits: limits)
        )
    }

    package mutating func decode(buffer: inout ByteBuffer) -> FramingStep {
        switch self.state {
        case .raw(let reason):
            return .raw(reason: reason)
        case .head(let scanFrom, let startLineAt):
            return self.decodeHead(buffer: &buffer, scanFrom: scanFrom, startLineAt: startLineAt)
        case .body(var body):
            return self.decodeBody(&body, buffer: &buffer)
        }
    }

    package mutating func decodeLast(buffer: inout ByteBuffer) -> (bytes: ByteBuffer, info: MessageInfo)? {
        guard case .body(let body) = self.state, case .untilClose = body.delimiter else { return nil }
        guard case .message(let bytes, let info) = self.complete(body, end: buffer.readableBytes, buffer: &buffer) else {
            return nil
        }
        return (bytes, info)
    }

    // MARK: Head

    private mutating func decodeHead(buffer: inout ByteBuffer, scanFrom: Int, startLineAt: Int?) -> FramingStep {
        // One pass over the bytes in place, line by line, until the empty line.
        let searched = self.searched
        let scan = buffer.withUnsafeReadableBytes { raw -> (position: Int, startLineAt: Int?, headEnd: Int?) in
            var position = scanFrom
            var start = startLineAt
            var searchFrom = max(position, searched)
            while let newline = raw.offsetOfNewline(from: searchFrom) {
                let lineStart = position
                position = newline + 1
                searchFrom = position
                let isEmpty = newline == lineStart || (newline == lineStart + 1 && raw[lineStart] == UInt8(ascii: "\r"))
                if start == nil {
                    if !isEmpty { start = lineStart }  // RFC 9112 §2.2: empty lines before a request line
                } else if isEmpty {
                    return (position, start, position)
                }
            }
            return (position, start, nil)
        }
        if let headEnd = scan.headEnd, let start = scan.startLineAt {
            guard headEnd <= self.limits.maxHeaderBytes else {
                return self.fail("HTTP head larger than the \(self.limits.maxHeaderBytes)-byte header limit")
            }
            return self.headComplete(buffer: &buffer, startLineAt: start, headEnd: headEnd)
        }
        self.searched = buffer.readableBytes
        if buffer.readableBytes > self.limits.maxHeaderBytes {
            return self.fail("HTTP head larger than the \(self.limits.maxHeaderBytes)-byte header limit")
        }
        if let start = scan.startLineAt {
            // The start line just became whole: check it now, so garbage with line breaks
            // does not wait for a full head.
            if startLineAt == nil, let newline = buffer.offsetOfNewline(from: start) {
                do {
                    _ = try buffer.withUnsafeReadableBytes { raw throws(FramingFailure) in
                        try HTTPHead.parseStartLine(HTTPHead.line(raw, from: start, to: newline))
                    }
                } catch {
                    return self.fail(error.reason)
                }
            }
        } else if let reason = self.implausibleStartLine(buffer, from: scan.position) {
            return self.fail(reason)
        }
        self.state = .head(scanFrom: scan.position, startLineAt: scan.startLineAt)
        return .needMoreData
    }

    /// Says why the start of an unfinished start line cannot become a valid one (TLS,
    /// binary, another protocol), so such a connection turns raw at its first bytes.
    private func implausibleStartLine(_ buffer: ByteBuffer, from start: Int) -> String? {
        let prefix = buffer.bytes(in: start..<min(buffer.readableBytes, start + 64))
        guard !prefix.isEmpty else { return nil }
        if prefix[0] == 0x16 { return "TLS handshake, not plaintext HTTP/1.1" }
        switch self.role {
        case .response:
            let expected = Array("HTTP/1.".utf8)
            let count = min(prefix.count, expected.count)
            return prefix[..<count].elementsEqual(expected[..<count]) ? nil : "response does not start with HTTP/1."
        case .request:
            let method = prefix.prefix { $0 != UInt8(ascii: " ") }
            if !method.allSatisfy(HTTPHead.isTokenByte) || (method.count == prefix.count && method.count > 32) {
                return "request does not start with an HTTP method"
            }
            if prefix.contains(where: { $0 < 0x20 && $0 != UInt8(ascii: "\r") || $0 == 0x7F }) {
                return "control byte in an HTTP request line"
            }
            return nil
        }
    }

    private mutating func headComplete(buffer: inout ByteBuffer, startLineAt: Int, headEnd: Int) -> FramingStep {
        let head: HTTPHead
        do {
            head = try buffer.withUnsafeReadableBytes { raw throws(FramingFailure) in
                try HTTPHead.parse(head: UnsafeRawBufferPointer(rebasing: raw[startLineAt..<headEnd]))
            }
        } catch {
            return self.fail(error.reason)
        }
        let body: Body
        do {
            switch (self.role, head.startLine) {
            case (.request, .request(let method, let target)):
                body = try self.requestBody(head, method: method, target: target, headEnd: headEnd)
            case (.response, .status(let status)):
                if self.exchange.next == nil, let reason = self.exchange.requestSideRaw {
                    return self.fail("the request direction is raw (\(reason)), so replies cannot be paired")
                }
                body = try self.responseBody(head, status: status, headEnd: headEnd)
            case (.request, .status):
                return self.fail("a status line where a request was expected")
            case (.response, .request):
                return self.fail("a request line where a response was expected")
            }
        } catch {
            return self.fail(error.reason)
        }
        var current = body
        return self.decodeBody(&current, buffer: &buffer)
    }

    private func requestBody(_ head: HTTPHead, method: String, target: String, headEnd: Int) throws(FramingFailure) -> Body {
        let key = head.idempotencyKey
        let info = MessageInfo(role: .request, method: method, path: target, fieldLines: head.fieldLines, idempotencyKey: key)
        let delimiter: Delimiter
        let codings = head.transferCodings
        if !codings.isEmpty {
            guard codings.last == "chunked" else {
                throw FramingFailure("request Transfer-Encoding '\(codings.joined(separator: ", "))' does not end in chunked")
            }
            delimiter = .chunkSize(at: headEnd)
        } else if let length = try head.contentLength(), length > 0 {
            delimiter = try self.fixed(headEnd: headEnd, length: length)
        } else {
            delimiter = .none(end: headEnd)
        }
        var fingerprint = RequestFingerprint()
        fingerprint.update(method)
        fingerprint.update(target)
        var rawAfterwards: String?
        if method == "CONNECT" {
            rawAfterwards = "CONNECT: the connection becomes a tunnel"
        } else if let upgrade = head.upgrade {
            rawAfterwards = "Upgrade: \(upgrade) requested; what follows may be another protocol"
        }
        return Body(
            info: info, request: nil, fingerprint: fingerprint, delimiter: delimiter,
            isFinalResponse: false, rawAfterwards: rawAfterwards
        )
    }

    private func responseBody(_ head: HTTPHead, status: Int, headEnd: Int) throws(FramingFailure) -> Body {
        let request = self.exchange.next?.info
        let method = request?.method
        let info = MessageInfo(
            role: .response, method: method, path: request?.path, status: status, fieldLines: head.fieldLines,
            idempotencyKey: request?.idempotencyKey
        )
        var body = Body(
            info: info, request: request, fingerprint: nil, delimiter: .none(end: headEnd),
            isFinalResponse: true, rawAfterwards: nil
        )
        switch status {
        case 101:
            body.rawAfterwards = "101 Switching Protocols to \(head.upgrade ?? "another protocol")"
        case 100..<200:
            body.isFinalResponse = false
        case 200..<300 where method == "CONNECT":
            body.rawAfterwards = "CONNECT answered \(status): the connection is a tunnel"
        case 204, 304:
            break
        case _ where method == "HEAD":
            break
        default:
            let codings = head.transferCodings
            if !codings.isEmpty {
                body.delimiter = codings.last == "chunked" ? .chunkSize(at: headEnd) : .untilClose
            } else if let length = try head.contentLength() {
                body.delimiter = length > 0 ? try self.fixed(headEnd: headEnd, length: length) : .none(end: headEnd)
            } else {
                body.delimiter = .untilClose
            }
        }
        return body
    }

    private func fixed(headEnd: Int, length: Int) throws(FramingFailure) -> Delimiter {
        let (end, overflow) = headEnd.addingReportingOverflow(length)
        guard !overflow, end <= self.limits.maxMessageBytes else {
            throw FramingFailure("a body of \(length) bytes exceeds the \(self.limits.maxMessageBytes)-byte message limit")
        }
        return .fixed(bodyStart: headEnd, end: end)
    }

    // MARK: Body

    private mutating func decodeBody(_ body: inout Body, buffer: inout ByteBuffer) -> FramingStep {
        while true {
            switch body.delimiter {
            case .none(let end):
                return self.complete(body, end: end, buffer: &buffer)
            case .fixed(let bodyStart, let end):
                guard buffer.readableBytes >= end else {
                    self.state = .body(body)
                    return .needMoreData
                }
                body.fingerprint?.update(buffer, offset: bodyStart, length: end - bodyStart)
                return self.complete(body, end: end, buffer: &buffer)
            case .chunkSize(let at):
                guard let newline = self.newline(in: buffer, from: at) else {
                    if buffer.readableBytes - at > Self.maxChunkLine {
                        return self.fail("chunk-size line longer than \(Self.maxChunkLine) bytes")
                    }
                    self.state = .body(body)
                    return .needMoreData
                }
                guard let size = Self.chunkSize(buffer.line(from: at, newline: newline)) else {
                    return self.fail("malformed chunk-size line")
                }
                if size == 0 {
                    body.delimiter = .trailers(at: newline + 1, start: newline + 1)
                } else {
                    let (end, overflow) = (newline + 1).addingReportingOverflow(size)
                    guard !overflow, end + 2 <= self.limits.maxMessageBytes else {
                        return self.fail("a chunked message exceeds the \(self.limits.maxMessageBytes)-byte message limit")
                    }
                    body.delimiter = .chunkData(start: newline + 1, size: size)
                }
            case .chunkData(let start, let size):
                let end = start + size
                let next: Int
                switch (buffer.byte(at: end), buffer.byte(at: end + 1)) {
                case (UInt8(ascii: "\r"), UInt8(ascii: "\n")): next = end + 2
                case (UInt8(ascii: "\n"), _): next = end + 1
                case (nil, _), (UInt8(ascii: "\r"), nil):
                    self.state = .body(body)
                    return .needMoreData
                default:
                    return self.fail("chunk data not followed by CRLF")
                }
                body.fingerprint?.update(buffer, offset: start, length: size)
                body.delimiter = .chunkSize(at: next)
            case .trailers(let at, let start):
                guard let newline = self.newline(in: buffer, from: at) else {
                    if buffer.readableBytes - start > self.limits.maxHeaderBytes {
                        return self.fail("HTTP trailers larger than the \(self.limits.maxHeaderBytes)-byte header limit")
                    }
                    self.state = .body(body)
                    return .needMoreData
                }
                let isEmpty = buffer.withUnsafeReadableBytes { HTTPHead.line($0, from: at, to: newline).isEmpty }
                if isEmpty {
                    return self.complete(body, end: newline + 1, buffer: &buffer)
                }
                do {
                    _ = try buffer.withUnsafeReadableBytes { raw throws(FramingFailure) in
                        try HTTPHead.parseField(HTTPHead.line(raw, from: at, to: newline))
                    }
                } catch {
                    return self.fail(error.reason)
                }
                if newline + 1 - start > self.limits.maxHeaderBytes {
                    return self.fail("HTTP trailers larger than the \(self.limits.maxHeaderBytes)-byte header limit")
                }
                body.delimiter = .trailers(at: newline + 1, start: start)
            case .untilClose:
                if buffer.readableBytes > self.limits.maxMessageBytes {
                    return self.fail("a response read until close exceeds the \(self.limits.maxMessageBytes)-byte message limit")
                }
                self.state = .body(body)
                return .needMoreData
            }
        }
    }

    /// The first `\n` at or after `start`. Line starts only grow within a message, so
    /// what an earlier search covered is skipped.
    private mutating func newline(in buffer: ByteBuffer, from start: Int) -> Int? {
        let found = buffer.offsetOfNewline(from: max(start, self.searched))
        if found == nil { self.searched = buffer.readableBytes }
        return found
    }

    /// The chunk size in a chunk-size line (`1a;ext=1`), nil if it is not hex.
    static func chunkSize(_ line: [UInt8]) -> Int? {
        var size = 0
        var digits = 0
        for byte in line {
            let value: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = Int(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = Int(byte - UInt8(ascii: "A")) + 10
            case UInt8(ascii: ";"), UInt8(ascii: " "), UInt8(ascii: "\t"):
                return digits > 0 ? size : nil
            default:
                return nil
            }
            digits += 1
            guard digits <= 15 else { return nil }
            size = size << 4 | value
        }
        return digits > 0 ? size : nil
    }

    private mutating func complete(_ body: Body, end: Int, buffer: inout ByteBuffer) -> FramingStep {
        guard let bytes = buffer.readSlice(length: end) else { return .needMoreData }
        self.searched = 0
        var info = body.info
        switch self.role {
        case .request:
            info.fingerprint = body.fingerprint?.finalize()
        case .response:
            info.fingerprint = body.request?.fingerprint
            if body.isFinalResponse { self.exchange.replyFramed() }
        }
        if let reason = body.rawAfterwards {
            self.state = .raw(reason)
            if self.role == .request { self.exchange.requestSideRaw = reason }
        } else {
            self.state = .head(scanFrom: 0, startLineAt: nil)
        }
        return .message(bytes: bytes, info: info)
    }

    /// Tells the response side that `request` was handed to the upstream, for framers
    /// used alone: call it for each request message, in the order they go on. (In a
    /// proxy, the unframer tells the connection's `Exchange` itself.) A request that
    /// never goes on is never queued, so replies still pair with the requests the server
    /// really received.
    package func requestForwarded(_ request: MessageInfo) {
        guard self.role == .request, request.role == .request else { return }
        self.exchange.enqueue(Exchange.Request(unit: 0, info: request))
    }

    package mutating func didFallBack(reason: String) {
        if case .raw = self.state { return }
        _ = self.fail(reason)
    }

    private mutating func fail(_ reason: String) -> FramingStep {
        self.state = .raw(reason)
        switch self.role {
        case .request: self.exchange.requestSideRaw = reason
        case .response: self.exchange.responseSideRaw = true
        }
        return .raw(reason: reason)
    }
}
