#if canImport(Glibc)
import Glibc
#endif
import FaultlineTestSupport
import Foundation

/// One long-lived connection through a proxy to an echo server: writes numbered
/// blocks, reads each back, and checks every byte, until told to stop; then half-closes
/// and reads to the end. Blocking I/O on its own thread, so a hundred of them never
/// wait on the event loops they are testing.
final class EchoStream: @unchecked Sendable {
    struct Outcome: Sendable {
        var sent = 0
        var received = 0
        var blocks = 0
        /// Nil when every byte came back in order and the connection ended cleanly.
        var failure: String?
    }

    private let port: Int
    private let seed: UInt8
    private let lock = NSLock()
    private var stopping = false

    init(port: Int, seed: UInt8) {
        self.port = port
        self.seed = seed
    }

    func stop() {
        self.lock.lock()
        self.stopping = true
        self.lock.unlock()
    }

    private var shouldStop: Bool {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.stopping
    }

    /// Runs until `stop()`; returns what happened. `pace` spaces the blocks, so a
    /// hundred streams keep traffic flowing without taking every core from the tests
    /// running beside them.
    func run(blockSize: Int = 2048, pace: Duration = .milliseconds(10)) async -> Outcome {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: self.blockingRun(blockSize: blockSize, pace: pace))
            }
        }
    }

    private func blockingRun(blockSize: Int, pace: Duration) -> Outcome {
        let paceMicroseconds = UInt32(pace.components.seconds * 1_000_000 + pace.components.attoseconds / 1_000_000_000_000)
        var outcome = Outcome()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return Outcome(failure: "socket: \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(self.port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return Outcome(failure: "connect: \(String(cString: strerror(errno)))") }

        var block = [UInt8](repeating: 0, count: blockSize)
        var reply = [UInt8](repeating: 0, count: blockSize)
        while !self.shouldStop {
            for index in 0..<blockSize { block[index] = UInt8(truncatingIfNeeded: outcome.blocks &* 31 &+ index &+ Int(self.seed)) }
            var offset = 0
            while offset < blockSize {
                let sent = block[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if sent < 0, errno == EINTR { continue }
                guard sent > 0 else {
                    outcome.failure = "send after \(outcome.sent) bytes: \(String(cString: strerror(errno)))"
                    return outcome
                }
                offset += sent
                outcome.sent += sent
            }
            var got = 0
            while got < blockSize {
                let count = reply[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else {
                    outcome.failure = count == 0 ? "end of stream after \(outcome.received) bytes" : "recv after \(outcome.received) bytes: \(String(cString: strerror(errno)))"
                    return outcome
                }
                got += count
                outcome.received += count
            }
            guard reply == block else {
                outcome.failure = "block \(outcome.blocks) came back changed"
                return outcome
            }
            outcome.blocks += 1
            if paceMicroseconds > 0 { usleep(paceMicroseconds) }
        }
        shutdown(fd, Int32(SHUT_WR))
        var tail = [UInt8](repeating: 0, count: 1024)
        let last = recv(fd, &tail, tail.count, 0)
        if last != 0 { outcome.failure = "expected end of stream after the half-close, got \(last)" }
        return outcome
    }
}
