#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A child process whose standard output is read line by line and whose standard error
/// is collected, both on their own threads so neither pipe can fill and stall it.
/// Standard input is `/dev/null`. Started with `Spawn` (see there for what the child
/// inherits and why not Foundation's `Process`).
package final class ChildProcess: Sendable {
    private let exit: ProcessExit
    private let lines: AsyncStream<String>
    private let stderrText = OutputCollector()

    /// Starts `EXECUTABLE ARGS...`; `environment` adds to this process's environment.
    package init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws {
        let output = try Spawn.pipe()
        let errors: (read: Int32, write: Int32)
        do {
            errors = try Spawn.pipe()
        } catch {
            close(output.read)
            close(output.write)
            throw error
        }
        let pid: pid_t
        do {
            pid = try Spawn.start(executable.path, arguments, environment: environment, output: output.write, error: errors.write)
        } catch {
            for fd in [output.read, output.write, errors.read, errors.write] { close(fd) }
            throw error
        }
        // Only the child may hold the write ends, or the readers never see the end.
        close(output.write)
        close(errors.write)
        self.exit = ProcessExit(pid: pid)

        let (stream, continuation) = AsyncStream<String>.makeStream()
        self.lines = stream
        let collector = self.stderrText
        Thread.detachNewThread {
            while let bytes = PipeReading.next(errors.read) {
                collector.append(bytes)
            }
            close(errors.read)
            collector.finish()
        }
        Thread.detachNewThread {
            var pending: [UInt8] = []
            while let bytes = PipeReading.next(output.read) {
                pending.append(contentsOf: bytes)
                while let newline = pending.firstIndex(of: 0x0A) {
                    continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            close(output.read)
            if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
            continuation.finish()
        }
    }

    /// The child's pid (for /proc); it stays the child's until its exit has been awaited.
    package var processIdentifier: pid_t {
        self.exit.pid
    }

    /// The next line of standard output, or nil at its end.
    package func nextLine() async -> String? {
        for await line in self.lines {
            return line
        }
        return nil
    }

    /// Waits for the `listening on HOST:PORT` line and returns the port.
    package func listeningPort() async -> Int? {
        while let line = await self.nextLine() {
            if line.hasPrefix("listening on "), let colon = line.lastIndex(of: ":") {
                return Int(line[line.index(after: colon)...])
            }
        }
        return nil
    }

    /// Sends signal `number` to the child, unless it has ended and been reaped.
    package func signal(_ number: Int32) {
        self.exit.signal(number)
    }

    /// Waits for the process to end and returns its exit status (the signal's number when
    /// a signal ended it, as Foundation's `terminationStatus` has it).
    package func exitStatus() async -> Int32 {
        await self.exit.value().status
    }

    /// Blocks this thread until the process has ended (for synchronous clean-up and
    /// checks) and returns its exit status.
    @discardableResult
    package func waitForExit() -> Int32 {
        self.exit.wait().status
    }

    /// Everything written to standard error so far.
    package var standardError: String {
        self.stderrText.text
    }

    /// Waits until standard error says `text` (true), or until the process closes it
    /// without saying it (false).
    package func standardError(saying text: String) async -> Bool {
        await self.stderrText.until(saying: text)
    }

    /// Everything written to standard error, once the process has closed it.
    package func completeStandardError() async -> String {
        await self.stderrText.complete()
    }

    /// Runs `EXECUTABLE ARGS...` to completion.
    package static func run(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) async throws -> Result {
        let binary = try ChildProcess(executable, arguments, environment: environment)
        var output: [String] = []
        while let line = await binary.nextLine() {
            output.append(line)
        }
        let status = await binary.exitStatus()
        let stderr = await binary.completeStandardError()
        return Result(status: status, stdout: output.joined(separator: "\n"), stderr: stderr)
    }

    package struct Result: Sendable {
        package var status: Int32
        package var stdout: String
        package var stderr: String
    }
}

/// Bytes a reader thread collects, and the awaits for their end.
private final class OutputCollector: Sendable {
    private struct State: ~Copyable {
        var bytes: [UInt8] = []
        var finished = false
        var waiters: [CheckedContinuation<String, Never>] = []
        var watchers: [(text: String, continuation: CheckedContinuation<Bool, Never>)] = []
    }

    private let state = Mutex(State())

    func append(_ more: [UInt8]) {
        let seen = self.state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.bytes.append(contentsOf: more)
            guard !state.watchers.isEmpty else { return [] }
            let text = String(decoding: state.bytes, as: UTF8.self)
            let (seen, waiting) = (state.watchers.filter { text.contains($0.text) }, state.watchers.filter { !text.contains($0.text) })
            state.watchers = waiting
            return seen.map(\.continuation)
        }
        for watcher in seen { watcher.resume(returning: true) }
    }

    func until(saying text: String) async -> Bool {
        await withCheckedContinuation { continuation in
            let now: Bool? = self.state.withLock { state in
                if String(decoding: state.bytes, as: UTF8.self).contains(text) { return true }
                if state.finished { return false }
                state.watchers.append((text, continuation))
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    func finish() {
        let (text, waiters, watchers) = self.state.withLock { state in
            state.finished = true
            defer {
                state.waiters = []
                state.watchers = []
            }
            return (String(decoding: state.bytes, as: UTF8.self), state.waiters, state.watchers)
        }
        for waiter in waiters { waiter.resume(returning: text) }
        for watcher in watchers { watcher.continuation.resume(returning: false) }
    }

    var text: String {
        self.state.withLock { String(decoding: $0.bytes, as: UTF8.self) }
    }

    func complete() async -> String {
        await withCheckedContinuation { continuation in
            let text: String? = self.state.withLock { state in
                guard state.finished else {
                    state.waiters.append(continuation)
                    return nil
                }
                return String(decoding: state.bytes, as: UTF8.self)
            }
            if let text { continuation.resume(returning: text) }
        }
    }
}
