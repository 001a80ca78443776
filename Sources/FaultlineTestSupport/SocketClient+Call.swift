#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One request and one reply on a kept-alive connection: the client reads until the
/// reply is whole, the connection ends, or its own timeout passes, as a real client of
/// a request-reply protocol does.
extension SocketClient {
    /// A connected socket with send and receive timeouts of `limit`, or nil when the
    /// connection was reset or refused during the handshake.
    static func connected(port: Int, limit: Duration) throws -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(call: "socket", code: errno) }
        let (seconds, attoseconds) = limit.components
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        let result = Self.connect(fd, loopbackPort: port)
        // A reset can beat the end of the handshake.
        if result != 0 {
            let code = errno == EINTR ? Self.finishInterruptedConnect(fd) : errno
            if code == 0 { return fd }
            close(fd)
            if code == ECONNRESET || code == ECONNREFUSED { return nil }
            throw SocketError(call: "connect", code: code)
        }
        return fd
    }

    /// 127.0.0.1:`port` as the socket calls take it.
    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// `connect(2)` to 127.0.0.1:`port`: 0, or -1 with `errno` set.
    static func connect(_ fd: Int32, loopbackPort port: Int) -> Int32 {
        var address = Self.loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    /// A connect that a signal interrupted goes on in the kernel: wait for it to end
    /// and return its outcome (0 or an errno).
    private static func finishInterruptedConnect(_ fd: Int32) -> Int32 {
        var waiting = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = restartingOnSignal { poll(&waiting, 1, -1) }
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
        return code
    }

    /// How one call on a kept-alive connection ended.
    package enum Reply: Equatable, Sendable {
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
    package static func call(
        port: Int,
        request: [UInt8],
        limit: Duration = .seconds(20),
        isComplete: @escaping @Sendable ([UInt8]) -> Bool
    ) async throws -> Reply {
        try await onOwnThread { try Self.blockingCall(port: port, request: request, limit: limit, isComplete: isComplete) }
    }

    private static func blockingCall(port: Int, request: [UInt8], limit: Duration, isComplete: ([UInt8]) -> Bool) throws -> Reply {
        guard let fd = try Self.connected(port: port, limit: limit) else { return .reset("") }
        defer { close(fd) }
        return try Self.exchange(fd, request: request, limit: limit, isComplete: isComplete)
    }

    /// Sends `request` on the connected `fd` and reads its reply (see `call`).
    private static func exchange(_ fd: Int32, request: [UInt8], limit: Duration, isComplete: ([UInt8]) -> Bool) throws -> Reply {
        var offset = 0
        while offset < request.count {
            let sent = restartingOnSignal { request[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
            if sent < 0 {
                if errno == ECONNRESET || errno == EPIPE { return .reset("") }
                throw SocketError(call: "send", code: errno)
            }
            offset += sent
        }
        var received = [UInt8]()
        switch try Self.receive(fd, into: &received, until: isComplete) {
        case nil: return .reply(String(decoding: received, as: UTF8.self))
        case .eof(let text): return .eof(text)
        case .reset(let text): return .reset(text)
        case .timedOut: throw TimedOut(limit: limit)
        }
    }

    /// As `call`, but the client gives up, and the call throws `TimedOut`, as soon as
    /// `giveUpWhen` returns: a client whose timeout fires just then. Tests of a reply
    /// the proxy loses wait for the proxy's `fault` event this way; with a fixed
    /// timeout, a loaded machine can make the client leave before the reply even
    /// reached the proxy, and then nothing was lost. A whole reply that came first
    /// is returned; if `giveUpWhen` throws, the client gives up and the call throws
    /// that error.
    package static func call(
        port: Int,
        request: [UInt8],
        limit: Duration = .seconds(20),
        isComplete: @escaping @Sendable ([UInt8]) -> Bool,
        giveUpWhen: @escaping @Sendable () async throws -> Void
    ) async throws -> Reply {
        guard let fd = try await onOwnThread({ try Self.connected(port: port, limit: limit) }) else { return .reset("") }
        defer { close(fd) }
        enum Outcome: Sendable {
            case answered(Result<Reply, any Error>)
            case gaveUp(Result<Void, any Error>)
            case stayed
        }
        return try await withThrowingTaskGroup(of: Outcome.self) { group in
            group.addTask {
                .answered(await Result { try await onOwnThread { try Self.exchange(fd, request: request, limit: limit, isComplete: isComplete) } })
            }
            group.addTask {
                let waited = await Result { try await giveUpWhen() }
                if Task.isCancelled { return .stayed }
                // Wakes the blocked receive; `fd` stays open until both tasks end.
                shutdown(fd, Int32(SHUT_RDWR))
                return .gaveUp(waited)
            }
            var answer: Result<Reply, any Error>?
            var giveUp: Result<Void, any Error>?
            while let outcome = try await group.next() {
                switch outcome {
                case .answered(let result):
                    answer = result
                    group.cancelAll()
                case .gaveUp(let result): giveUp = result
                case .stayed: break
                }
            }
            if case .success(.reply(let text))? = answer { return .reply(text) }
            if let giveUp {
                try giveUp.get()
                throw TimedOut(limit: limit)
            }
            return try answer!.get()
        }
    }
}
