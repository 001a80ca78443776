#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A client that pushes a large or hostile byte stream through a proxy to an echo
/// server (`SocketEchoServer`) and reads the echo back at the same time, so
/// backpressure never stalls either side. Plain blocking sockets on their own threads:
/// the kernel's counts are the truth.
package enum HostileClient {
    /// What one round trip carried.
    package struct RoundTrip: Sendable {
        package var sent: Int
        package var received: Int
        /// Every byte received equals the byte sent at the same offset.
        package var identical: Bool
    }

    /// Connects to 127.0.0.1:`port`, sends `head`, then `body` `repeats` times, while
    /// reading until the end of stream, and half-closes once everything sent has come
    /// back (or `limit` passed). Gives up after `limit` with nothing read (the receive
    /// timeout).
    ///
    /// Half-closing only then keeps the end of input out of what is measured: on a
    /// peer's FIN, swift-nio reads the socket to its end at once, whatever backpressure
    /// says, so a FIN sent while megabytes wait in the proxy's receive buffer makes the
    /// proxy hold them all (up to the kernel's `tcp_rmem` maximum), framing or not.
    package static func roundTrip(
        port: Int,
        head: [UInt8],
        body: [UInt8],
        repeats: Int,
        limit: Duration = .seconds(60)
    ) async throws -> RoundTrip {
        try await onOwnThread { try Self.blockingRoundTrip(port: port, head: head, body: body, repeats: repeats, limit: limit) }
    }

    private static func blockingRoundTrip(port: Int, head: [UInt8], body: [UInt8], repeats: Int, limit: Duration) throws -> RoundTrip {
        guard let fd = try SocketClient.connected(port: port, limit: limit) else {
            throw SocketError(call: "connect", code: ECONNREFUSED)
        }
        defer { close(fd) }
        let sent = head.count + body.count * repeats
        let done = DispatchSemaphore(value: 0)
        let echoed = DispatchSemaphore(value: 0)
        let sendError = LockedBox<Int32?>(nil)
        Thread.detachNewThread {
            defer { done.signal() }
            var pieces: [[UInt8]] = [head]
            pieces += Array(repeating: body, count: repeats)
            for piece in pieces {
                var offset = 0
                while offset < piece.count {
                    let count = restartingOnSignal {
                        piece[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    }
                    if count <= 0 {
                        sendError.set(errno)
                        return
                    }
                    offset += count
                }
            }
            _ = echoed.wait(timeout: .now() + .nanoseconds(Int(limit.components.seconds) * 1_000_000_000))
            shutdown(fd, Int32(SHUT_WR))
        }
        // Compare as it arrives: the stream is `head` then `body` repeated.
        var received = 0
        var signalled = false
        var identical = true
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = restartingOnSignal { chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
            if count <= 0 { break }
            if identical {
                for index in 0..<count {
                    let offset = received + index
                    let expected: UInt8? =
                        offset < head.count ? head[offset]
                        : body.isEmpty ? nil : body[(offset - head.count) % body.count]
                    if chunk[index] != expected {
                        identical = false
                        break
                    }
                }
            }
            received += count
            if !signalled, received >= sent {
                echoed.signal()
                signalled = true
            }
        }
        if !signalled { echoed.signal() }  // the stream ended early: let the sender finish
        done.wait()
        if let code = sendError.value { throw SocketError(call: "send", code: code) }
        return RoundTrip(sent: sent, received: received, identical: identical && received == sent)
    }

    /// Opens `count` connections to 127.0.0.1:`port` and sends `bytes` on each, keeping
    /// them open (a slowloris client). Close them with `SocketSet.close()`.
    package static func holdOpen(port: Int, count: Int, bytes: [UInt8]) throws -> SocketSet {
        var descriptors: [Int32] = []
        descriptors.reserveCapacity(count)
        do {
            for _ in 0..<count {
                guard let fd = try SocketClient.connected(port: port, limit: .seconds(30)) else {
                    throw SocketError(call: "connect", code: ECONNREFUSED)
                }
                descriptors.append(fd)
                let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if sent != bytes.count { throw SocketError(call: "send", code: errno) }
            }
        } catch {
            SocketSet(descriptors).close()
            throw error
        }
        return SocketSet(descriptors)
    }
}

extension HostileClient {
    /// Opens `count` connections to an echo behind `port`, one after the other, sends
    /// `bytes` on each in 64 KiB pieces (enough for the proxy's reads to grow), reading each piece
    /// back before the next, and returns them open and idle: pooled connections that
    /// have carried data.
    package static func carryThenHold(port: Int, count: Int, bytes: Int) throws -> SocketSet {
        var descriptors: [Int32] = []
        do {
            let piece = [UInt8](repeating: UInt8(ascii: "z"), count: 64 * 1024)
            var back = [UInt8](repeating: 0, count: piece.count)
            for _ in 0..<count {
                guard let fd = try SocketClient.connected(port: port, limit: .seconds(30)) else {
                    throw SocketError(call: "connect", code: ECONNREFUSED)
                }
                descriptors.append(fd)
                var carried = 0
                while carried < bytes {
                    let size = min(piece.count, bytes - carried)
                    let sent = restartingOnSignal { piece.withUnsafeBytes { send(fd, $0.baseAddress, size, Int32(MSG_NOSIGNAL)) } }
                    guard sent == size else { throw SocketError(call: "send", code: errno) }
                    var received = 0
                    while received < size {
                        let count = restartingOnSignal { back.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + received, size - received, 0) } }
                        guard count > 0 else { throw SocketError(call: "recv", code: count == 0 ? ECONNRESET : errno) }
                        received += count
                    }
                    carried += size
                }
            }
        } catch {
            SocketSet(descriptors).close()
            throw error
        }
        return SocketSet(descriptors)
    }
}

extension HostileClient {
    /// Opens `count` UDP sockets towards `port` on 127.0.0.1 (a session each at a UDP
    /// proxy), sends `burst` datagrams of `size` bytes on each at once, then takes the
    /// echoes that come within `wait` seconds of each other (the kernel may drop some
    /// under load), and returns the sockets open with how many echoes came back.
    package static func burstThenHold(port: Int, count: Int, burst: Int, size: Int, wait seconds: Int = 2) throws -> (sockets: SocketSet, echoes: Int) {
        var descriptors: [Int32] = []
        var echoes = 0
        do {
            let payload = [UInt8](repeating: UInt8(ascii: "u"), count: size)
            var back = [UInt8](repeating: 0, count: 65_536)
            var wait = timeval(tv_sec: seconds, tv_usec: 0)
            for _ in 0..<count {
                let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                guard fd >= 0 else { throw SocketError(call: "socket", code: errno) }
                descriptors.append(fd)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
                // Room for a whole burst of echoes (the default holds about 200 KiB).
                var room: Int32 = 4 << 20
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &room, socklen_t(MemoryLayout<Int32>.size))
                guard SocketClient.connect(fd, loopbackPort: port) == 0 else { throw SocketError(call: "connect", code: errno) }
                for _ in 0..<burst {
                    let sent = restartingOnSignal { payload.withUnsafeBytes { send(fd, $0.baseAddress, size, 0) } }
                    guard sent == size else { throw SocketError(call: "send", code: errno) }
                }
                for _ in 0..<burst {
                    let received = restartingOnSignal { back.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
                    guard received > 0 else { break }
                    echoes += 1
                }
            }
        } catch {
            SocketSet(descriptors).close()
            throw error
        }
        return (SocketSet(descriptors), echoes)
    }
}

extension HostileClient {
    /// Connects to `port` `count` times, one after the other, and resets each connection
    /// at once (SO_LINGER 0, then close): a client that gives up before anything happens.
    package static func resetAtOnce(port: Int, count: Int) throws {
        for _ in 0..<count {
            guard let fd = try SocketClient.connected(port: port, limit: .seconds(30)) else {
                throw SocketError(call: "connect", code: ECONNREFUSED)
            }
            var abort = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<linger>.size))
            close(fd)
        }
    }
}

/// Sockets a test opened itself, closed exactly once: a second `close(2)` of a number
/// the kernel has since given to someone else (an event loop's socket in a test running
/// alongside) would close that instead.
package final class SocketSet: @unchecked Sendable {
    package let descriptors: [Int32]
    private let lock = NSLock()
    private var isClosed = false

    package init(_ descriptors: [Int32]) {
        self.descriptors = descriptors
    }

    package var count: Int { self.descriptors.count }

    /// Closes every descriptor, the first time only.
    package func close() {
        let first = self.lock.withLock { () -> Bool in
            defer { self.isClosed = true }
            return !self.isClosed
        }
        guard first else { return }
        for fd in self.descriptors { Glibc.close(fd) }
    }

    deinit {
        self.close()
    }
}

/// A value shared between threads under a lock.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) {
        self.stored = value
    }

    var value: Value { self.lock.withLock { self.stored } }

    func set(_ value: Value) {
        self.lock.withLock { self.stored = value }
    }
}

/// Memory of a running process, from /proc/PID/status.
package enum ProcessMemory {
    /// The resident set now (`VmRSS`) and its peak so far (`VmHWM`), in KiB.
    package static func of(_ pid: Int32) -> (rss: Int, peak: Int)? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int? {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        guard let rss = field("VmRSS"), let peak = field("VmHWM") else { return nil }
        return (rss, peak)
    }

    /// Descriptors the process has open now.
    package static func openDescriptors(_ pid: Int32) -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
    }

    /// CPU time the process has used (user + system), in clock ticks.
    package static func cpuTicks(_ pid: Int32) -> Int? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }
}
