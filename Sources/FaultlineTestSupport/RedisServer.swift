#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A real `redis-server` on a free loopback port, for tests of RESP framing and faults.
///
/// Debian's package (installed by `make test-deps`) lives at `/usr/bin/redis-server`.
/// Redis cannot bind port 0 and report it, so a free port is found by binding port 0
/// and closing; persistence is off (`--save '' --appendonly no`) so nothing is written.
/// Start waits for the server's own "Ready to accept connections" line.
package final class RedisServer: Sendable {
    package static let path = "/usr/bin/redis-server"

    /// redis-server is not installed: the message says how to get it.
    package struct Missing: Error, CustomStringConvertible {
        package var description: String {
            "\(RedisServer.path) not found: run `make test-deps` (it installs Debian's redis-server)"
        }
    }

    /// redis-server ended before it was ready.
    package struct StartFailed: Error, CustomStringConvertible {
        package var output: String
        package var description: String { "redis-server did not start:\n\(self.output)" }
    }

    package let port: Int
    private let exit: ProcessExit

    private init(port: Int, exit: ProcessExit) {
        self.port = port
        self.exit = exit
    }

    /// Starts a server on a free port. The port is found free and then handed to
    /// redis-server, so a test running alongside can take it in between: a start that
    /// lost its port that way is tried again on another.
    package static func start() async throws -> RedisServer {
        guard FileManager.default.isExecutableFile(atPath: Self.path) else { throw Missing() }
        for attempt in 1... {
            do {
                return try await Self.startOnce()
            } catch let failure as StartFailed where attempt < 5 && failure.output.contains("Address already in use") {
                continue
            }
        }
        preconditionFailure("unreachable")
    }

    private static func startOnce() async throws -> RedisServer {
        let port = try Self.freePort()
        let output = try Spawn.pipe()
        let pid: pid_t
        do {
            pid = try Spawn.start(
                Self.path,
                [
                    "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--daemonize", "no", "--logfile", "", "--databases", "1",
                ],
                output: output.write,
                error: output.write
            )
        } catch {
            close(output.read)
            close(output.write)
            throw error
        }
        close(output.write)
        let server = RedisServer(port: port, exit: ProcessExit(pid: pid))
        let ready = try await withTimeout(.seconds(20)) {
            try await Self.waitUntilReady(output.read)
        }
        guard ready.ready else {
            server.stop()
            throw StartFailed(output: ready.text)
        }
        return server
    }

    /// Reads the server's log until it says it is ready (true) or ends (false), then
    /// drains it to its end (so the server never blocks on a full pipe) and closes it.
    private static func waitUntilReady(_ fd: Int32) async throws -> (ready: Bool, text: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var text = ""
                var waiting = true
                while let bytes = PipeReading.next(fd) {
                    guard waiting else { continue }
                    text += String(decoding: bytes, as: UTF8.self)
                    if text.contains("Ready to accept connections") {
                        waiting = false
                        continuation.resume(returning: (true, text))
                    }
                }
                close(fd)
                if waiting { continuation.resume(returning: (false, text)) }
            }
        }
    }

    /// Kills the server: nothing here needs a clean shutdown.
    package func stop() {
        self.exit.signal(SIGKILL)
        self.exit.wait()
    }

    /// A port nothing listens on now: bind port 0 on loopback, read it, close.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(call: "socket", code: errno) }
        defer { close(fd) }
        var address = SocketClient.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw SocketError(call: "bind", code: errno) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw SocketError(call: "getsockname", code: errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// RESP texts for tests: commands as arrays of bulk strings, and the check that a reply
/// is whole.
package enum RESPTestMessage {
    /// `SET key value` as `*3\r\n$3\r\nSET\r\n...`.
    package static func command(_ words: String...) -> [UInt8] {
        Self.command(words)
    }

    package static func command(_ words: [String]) -> [UInt8] {
        var text = "*\(words.count)\r\n"
        for word in words { text += "$\(word.utf8.count)\r\n\(word)\r\n" }
        return Array(text.utf8)
    }

    /// True once `bytes` hold one whole RESP2 value.
    @Sendable package static func isComplete(_ bytes: [UInt8]) -> Bool {
        Self.end(of: bytes[...]) != nil
    }

    /// Where the value starting at `bytes.startIndex` ends, if it is whole.
    private static func end(of bytes: ArraySlice<UInt8>) -> Int? {
        guard let type = bytes.first,
            let newline = bytes.indices.dropFirst().first(where: { bytes[$0] == 10 && bytes[$0 - 1] == 13 })
        else { return nil }
        let line = String(decoding: bytes[(bytes.startIndex + 1)..<(newline - 1)], as: UTF8.self)
        switch type {
        case UInt8(ascii: "$"):
            guard let length = Int(line) else { return nil }
            if length < 0 { return newline + 1 }
            let end = newline + 1 + length + 2
            return bytes.endIndex >= end ? end : nil
        case UInt8(ascii: "*"):
            guard let count = Int(line) else { return nil }
            var next = newline + 1
            for _ in 0..<max(count, 0) {
                guard let end = Self.end(of: bytes[next...]) else { return nil }
                next = end
            }
            return next
        default:
            return newline + 1
        }
    }
}
