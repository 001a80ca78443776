import FaultlineCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The small HTTP/1.1 client `faultline ctl` talks to `faultline serve` with: one
/// request per connection (`Connection: close`), blocking sockets, chunked replies
/// decoded, so a followed event stream prints line by line.
struct ControlClient {
    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    var host: String
    var port: Int
    var token: String?

    /// `http://HOST:PORT`, `HOST:PORT`, or `:PORT`.
    init(address: String, token: String?) throws {
        var text = address
        if text.hasPrefix("http://") { text.removeFirst("http://".count) }
        if text.hasSuffix("/") { text.removeLast() }
        if text.hasPrefix(":") { text = "127.0.0.1" + text }
        if text.hasPrefix("https://") {
            throw InvalidInputError("--api \(address): ctl speaks plain HTTP; put the server on loopback or behind a TLS tunnel")
        }
        let parsed = try HostPort(parsing: text, what: "--api")
        self.host = parsed.host
        self.port = parsed.port
        self.token = token
    }

    /// Sends one request; `onChunk`, when given, receives the body as it arrives (and
    /// the reply's body is then left empty).
    func send(_ method: String, _ path: String, body: String? = nil, contentType: String = "application/json", onChunk: ((String) -> Void)? = nil) throws -> Reply {
        let fd = try self.connect()
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(self.host):\(self.port)\r\nUser-Agent: faultline-ctl\r\nConnection: close\r\n"
        if let token = self.token { head += "Authorization: Bearer \(token)\r\n" }
        let payload = Array((body ?? "").utf8)
        if body != nil { head += "Content-Type: \(contentType)\r\n" }
        head += "Content-Length: \(payload.count)\r\n\r\n"
        try Self.write(fd, Array(head.utf8) + payload)

        var reader = Reader(fd: fd)
        guard let statusLine = try reader.line() else { throw RuntimeFailure("\(self.host):\(self.port): the server closed the connection without an answer") }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw RuntimeFailure("\(self.host):\(self.port): not an HTTP answer: \(statusLine)") }
        var headers: [String: String] = [:]
        while let line = try reader.line(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var collected = [UInt8]()
        // Only a success is streamed: an error's body is kept for the caller to word.
        let streams = onChunk != nil && (200..<300).contains(status)
        let deliver: ([UInt8]) -> Void = { bytes in
            if streams, let onChunk { onChunk(String(decoding: bytes, as: UTF8.self)) } else { collected += bytes }
        }
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while let sizeLine = try reader.line() {
                guard let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else { break }
                if size == 0 { break }
                deliver(try reader.bytes(size))
                _ = try reader.line()
            }
        } else if let length = headers["content-length"].flatMap(Int.init) {
            deliver(try reader.bytes(length))
        } else {
            deliver(try reader.rest())
        }
        return Reply(status: status, headers: headers, body: String(decoding: collected, as: UTF8.self))
    }

    private func connect() throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(self.host, String(self.port), &hints, &list) == 0, let first = list else {
            throw RuntimeFailure("--api \(self.host):\(self.port): cannot resolve \(self.host)")
        }
        defer { freeaddrinfo(list) }
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        var lastError: Int32 = 0
        while let info = cursor {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                if Self.systemConnect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
                lastError = errno
                close(fd)
            }
            cursor = info.pointee.ai_next
        }
        throw RuntimeFailure("--api \(self.host):\(self.port): cannot connect (\(String(cString: strerror(lastError)))); is 'faultline serve' running there?")
    }

    private static func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>?, _ length: socklen_t) -> Int32 {
        #if canImport(Glibc)
        Glibc.connect(fd, address, length)
        #else
        Darwin.connect(fd, address, length)
        #endif
    }

    private static func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.send(fd, bytes, count, Int32(MSG_NOSIGNAL))
        #else
        Darwin.send(fd, bytes, count, 0)
        #endif
    }

    private static func write(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Self.systemSend(fd, $0.baseAddress, $0.count) }
            if sent < 0 {
                if errno == EINTR { continue }
                throw RuntimeFailure("sending the request failed: \(String(cString: strerror(errno)))")
            }
            offset += sent
        }
    }

    /// Buffered reads from the socket.
    struct Reader {
        let fd: Int32
        var buffer: [UInt8] = []
        var ended = false

        init(fd: Int32) { self.fd = fd }

        mutating func fill() throws -> Bool {
            guard !self.ended else { return false }
            var chunk = [UInt8](repeating: 0, count: 16_384)
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
                if count < 0, errno == EINTR { continue }
                if count < 0 { throw RuntimeFailure("reading the answer failed: \(String(cString: strerror(errno)))") }
                if count == 0 {
                    self.ended = true
                    return false
                }
                self.buffer += chunk[0..<count]
                return true
            }
        }

        mutating func line() throws -> String? {
            while true {
                if let index = self.buffer.firstIndex(of: 0x0A) {
                    var line = Array(self.buffer[..<index])
                    self.buffer.removeFirst(index + 1)
                    if line.last == 0x0D { line.removeLast() }
                    return String(decoding: line, as: UTF8.self)
                }
                if try !self.fill() { return self.buffer.isEmpty ? nil : String(decoding: self.buffer, as: UTF8.self) }
            }
        }

        mutating func bytes(_ count: Int) throws -> [UInt8] {
            while self.buffer.count < count {
                if try !self.fill() { break }
            }
            let taken = Array(self.buffer.prefix(count))
            self.buffer.removeFirst(taken.count)
            return taken
        }

        mutating func rest() throws -> [UInt8] {
            while try self.fill() {}
            defer { self.buffer = [] }
            return self.buffer
        }
    }
}
