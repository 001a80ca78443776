#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A plain blocking TCP client for tests that must tell a reset from an orderly end of
/// stream. The kernel's own answer (`recv` returning 0 or failing with ECONNRESET) is the
/// truth here; an event-loop client may report a reset that arrives while it is not
/// reading as a plain close.
public enum SocketClient {
    /// How a connection ended, with everything received before the end.
    public enum Ending: Equatable, Sendable {
        case eof(String)
        case reset(String)
    }

    /// Connects to 127.0.0.1:`port`, sends `request` (then shuts down the write side when
    /// `finish`), and reads until the connection ends. A receive timeout of `limit`
    /// guards against hangs; hitting it throws `TimedOut`.
    public static func exchange(
        port: Int,
        request: String,
        finish: Bool = false,
        limit: Duration = .seconds(20)
    ) async throws -> Ending {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try Self.blockingExchange(port: port, request: request, finish: finish, limit: limit) })
            }
        }
    }

    /// A connected socket with send and receive timeouts of `limit`, or nil when the
    /// connection was reset or refused during the handshake.
    private static func connected(port: Int, limit: Duration) throws -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(call: "socket", code: errno) }
        let (seconds, attoseconds) = limit.components
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        // A reset can beat the end of the handshake.
        if result != 0 {
            let code = errno
            close(fd)
            if code == ECONNRESET || code == ECONNREFUSED { return nil }
            throw SocketError(call: "connect", code: code)
        }
        return fd
    }

    private static func blockingExchange(port: Int, request: String, finish: Bool, limit: Duration) throws -> Ending {
        guard let fd = try Self.connected(port: port, limit: limit) else { return .reset("") }
        defer { close(fd) }

        var received = [UInt8]()
        var payload = Array(request.utf8)
        var offset = 0
        while offset < payload.count {
            let sent = payload[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == ECONNRESET || errno == EPIPE { return try Self.drain(fd, into: &received) }
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
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += chunk[0..<count]
            } else if count == 0 {
                return .eof(String(decoding: received, as: UTF8.self))
            } else if errno == ECONNRESET || errno == EPIPE {
                return .reset(String(decoding: received, as: UTF8.self))
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                throw TimedOut(limit: .seconds(0))
            } else if errno != EINTR {
                throw SocketError(call: "recv", code: errno)
            }
        }
    }
}

extension SocketClient {
    /// How one call on a kept-alive connection ended.
    public enum Reply: Equatable, Sendable {
        /// `isComplete` said the bytes received make a whole reply.
        case reply(String)
        /// The connection ended (FIN) before a whole reply, with what came.
        case eof(String)
        case reset(String)
    }

    /// Connects to 127.0.0.1:`port`, sends `request`, and reads until `isComplete` says
    /// a whole reply arrived, the connection ends, or `limit` passes without a byte
    /// (then it throws `TimedOut`: the client's own timeout, as a real client's). The
    /// connection is closed afterwards.
    public static func call(
        port: Int,
        request: [UInt8],
        limit: Duration = .seconds(20),
        isComplete: @escaping @Sendable ([UInt8]) -> Bool
    ) async throws -> Reply {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    with: Result { try Self.blockingCall(port: port, request: request, limit: limit, isComplete: isComplete) }
                )
            }
        }
    }

    private static func blockingCall(port: Int, request: [UInt8], limit: Duration, isComplete: ([UInt8]) -> Bool) throws -> Reply {
        guard let fd = try Self.connected(port: port, limit: limit) else { return .reset("") }
        defer { close(fd) }
        var offset = 0
        while offset < request.count {
            let sent = request[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == ECONNRESET || errno == EPIPE { return .reset("") }
                throw SocketError(call: "send", code: errno)
            }
            offset += sent
        }
        var received = [UInt8]()
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
                throw TimedOut(limit: limit)
            } else if errno != EINTR {
                throw SocketError(call: "recv", code: errno)
            }
        }
        return .reply(String(decoding: received, as: UTF8.self))
    }
}

/// A socket call failed in a test client.
public struct SocketError: Error, CustomStringConvertible {
    public var call: String
    public var code: Int32
    public var description: String { "\(self.call): \(String(cString: strerror(self.code)))" }
}
