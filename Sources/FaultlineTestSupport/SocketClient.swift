#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A plain blocking TCP client for tests that must tell a reset from an orderly end of
/// stream. The kernel's own answer (`recv` returning 0 or failing with ECONNRESET) is the
/// truth here; an event-loop client may report a reset that arrives while it is not
/// reading as a plain close.
package enum SocketClient {
    /// How a connection ended, with everything received before the end.
    package enum Ending: Equatable, Sendable {
        case eof(String)
        case reset(String)
        /// Nothing ended it within the limit: the client gave up and closed.
        case timedOut(String)

        package var received: String {
            switch self {
            case .eof(let text), .reset(let text), .timedOut(let text): text
            }
        }
    }

    /// Connects to 127.0.0.1:`port`, sends `request` (then shuts down the write side when
    /// `finish`), and reads until the connection ends, or until nothing arrived for
    /// `limit` (`.timedOut`).
    package static func exchange(
        port: Int,
        request: String,
        finish: Bool = false,
        limit: Duration = .seconds(20)
    ) async throws -> Ending {
        try await onOwnThread { try Self.blockingExchange(port: port, request: request, finish: finish, limit: limit) }
    }

    private static func blockingExchange(port: Int, request: String, finish: Bool, limit: Duration) throws -> Ending {
        // A reset can beat the end of the handshake.
        guard let fd = try Self.connected(port: port, limit: limit) else { return .reset("") }
        defer { close(fd) }

        var received = [UInt8]()
        var payload = Array(request.utf8)
        var offset = 0
        while offset < payload.count {
            let sent = payload[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == ECONNRESET || errno == EPIPE {
                    // The reset was reported here, so reads will end as if by FIN.
                    return .reset(try Self.drain(fd, into: &received).received)
                }
                if errno == EAGAIN || errno == EWOULDBLOCK { return .timedOut("") }
                if errno == EINTR { continue }
                throw SocketError(call: "send", code: errno)
            }
            offset += sent
        }
        payload.removeAll()
        if finish { shutdown(fd, Int32(SHUT_WR)) }
        return try Self.drain(fd, into: &received)
    }

    /// Reads until end of stream or reset.
    private static func drain(_ fd: Int32, into received: inout [UInt8]) throws -> Ending {
        try Self.receive(fd, into: &received) ?? .eof(String(decoding: received, as: UTF8.self))
    }

    /// Reads into `received` until `isComplete` says the bytes make a whole reply (nil),
    /// the connection ends (`.eof`, `.reset`), or the socket's receive timeout passes
    /// with nothing read (`.timedOut`).
    static func receive(
        _ fd: Int32,
        into received: inout [UInt8],
        until isComplete: ([UInt8]) -> Bool = { _ in false }
    ) throws -> Ending? {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !isComplete(received) {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += chunk[0..<count]
            } else if count == 0 {
                return .eof(String(decoding: received, as: UTF8.self))
            } else if errno == ECONNRESET || errno == EPIPE {
                return .reset(String(decoding: received, as: UTF8.self))
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return .timedOut(String(decoding: received, as: UTF8.self))
            } else if errno != EINTR {
                throw SocketError(call: "recv", code: errno)
            }
        }
        return nil
    }
}

/// A socket call failed in a test client.
package struct SocketError: Error, CustomStringConvertible {
    package var call: String
    package var code: Int32
    package var description: String { "\(self.call): \(String(cString: strerror(self.code)))" }
}

/// A blocking echo server on 127.0.0.1 for tests that compare the log with what the
/// server's kernel delivered: one thread per connection, each reporting the bytes it
/// received once its connection ends (by FIN, RST or error).
package final class SocketEchoServer: Sendable {
    package let port: Int
    /// One count per finished connection, in the order they finished.
    package let received: AsyncStream<Int>
    private let listener: Int32
    private let stopped = Mutex(false)

    package init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(call: "socket", code: errno) }
        var address = SocketClient.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 128) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw SocketError(call: "bind", code: errno)
        }
        self.listener = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        self.received = stream
        // The accept thread owns the listener and closes it when its loop ends: were
        // `stop` to close it, this thread could call `accept` once more on a number the
        // kernel had meanwhile given to another test's socket.
        Thread.detachNewThread {
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 {
                    if errno == EINTR { continue }
                    break
                }
                Thread.detachNewThread {
                    continuation.yield(Self.echo(connection))
                }
            }
            close(fd)
        }
    }

    /// Stops accepting (connections already accepted run to their end): the shutdown
    /// wakes the accept thread, which then closes the listener. Once only: a second
    /// shutdown could reach a number the kernel has since reused.
    package func stop() {
        let first = self.stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        if first { shutdown(self.listener, Int32(SHUT_RDWR)) }
    }

    private static func echo(_ fd: Int32) -> Int {
        defer { close(fd) }
        var total = 0
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = restartingOnSignal { chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
            guard count > 0 else { break }
            total += count
            var offset = 0
            while offset < count {
                let sent = restartingOnSignal { chunk[offset..<count].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
                if sent <= 0 { return total + Self.drain(fd) }
                offset += sent
            }
        }
        shutdown(fd, Int32(SHUT_WR))
        return total
    }

    /// Counts what is still readable after the peer stopped taking replies.
    private static func drain(_ fd: Int32) -> Int {
        var total = 0
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while case let count = restartingOnSignal({ chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }), count > 0 {
            total += count
        }
        return total
    }
}
