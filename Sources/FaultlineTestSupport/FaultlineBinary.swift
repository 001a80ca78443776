import Foundation

/// The built `faultline` executable, run as a user would from a shell.
///
/// `swift test` builds it beside the test bundle, so it is found next to
/// `Bundle.main.executableURL` (or through `FAULTLINE_BINARY`).
package enum FaultlineBinary {
    package static var url: URL {
        if let path = ProcessInfo.processInfo.environment["FAULTLINE_BINARY"] {
            return URL(fileURLWithPath: path)
        }
        var directory = Bundle.main.bundleURL
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("faultline")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                return candidate
            }
            directory.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: ".build/debug/faultline")
    }

    /// Starts `faultline ARGS...`.
    package static func start(_ arguments: [String], environment: [String: String]? = nil) throws -> ChildProcess {
        try ChildProcess(Self.url, arguments, environment: environment)
    }

    /// Runs `faultline ARGS...` to completion.
    package static func run(_ arguments: [String], environment: [String: String]? = nil) async throws -> ChildProcess.Result {
        try await ChildProcess.run(Self.url, arguments, environment: environment)
    }
}

/// A child process whose standard output is read line by line and whose standard error
/// is collected, both on their own threads so neither pipe can fill and stall it.
package final class ChildProcess: @unchecked Sendable {
    package let process = Process()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let lines: AsyncStream<String>
    private let stderrText = StderrCollector()
    private let exit: ProcessExit

    /// Starts `EXECUTABLE ARGS...`; `environment` adds to this process's environment.
    package init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws {
        self.process.executableURL = executable
        self.process.arguments = arguments
        if let environment {
            self.process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        self.process.standardOutput = self.stdoutPipe
        self.process.standardError = self.stderrPipe
        self.process.standardInput = FileHandle.nullDevice
        self.exit = ProcessExit(self.process)
        let (stream, continuation) = AsyncStream<String>.makeStream()
        self.lines = stream
        let output = self.stdoutPipe.fileHandleForReading.fileDescriptor
        let collector = self.stderrText
        let errors = self.stderrPipe.fileHandleForReading.fileDescriptor
        Thread.detachNewThread {
            while let bytes = PipeReading.next(errors) {
                collector.append(bytes)
            }
            collector.finish()
        }
        Thread.detachNewThread {
            var pending = Data()
            while let bytes = PipeReading.next(output) {
                pending.append(contentsOf: bytes)
                while let newline = pending.firstIndex(of: 0x0A) {
                    continuation.yield(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
            if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
            continuation.finish()
        }
        try self.process.run()
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

    /// Sends signal `number` to the child. Never to pid 0 or below: that would signal
    /// the whole process group, the test runner included.
    package func signal(_ number: Int32) {
        let pid = self.process.processIdentifier
        guard pid > 0 else { return }
        kill(pid, number)
    }

    /// Waits for the process to end and returns its exit status.
    package func exitStatus() async -> Int32 {
        await self.exit.value()
        return self.process.terminationStatus
    }

    /// Blocks this thread until the process has ended (for synchronous clean-up).
    package func waitForExit() {
        self.exit.wait()
    }

    /// Everything written to standard error so far.
    package var standardError: String {
        self.stderrText.text
    }

    /// Everything written to standard error, once the process has closed it.
    package func completeStandardError() async -> String {
        let collector = self.stderrText
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                collector.done.wait()
                collector.done.signal()
                continuation.resume(returning: collector.text)
            }
        }
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

private final class StderrCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    let done = DispatchSemaphore(value: 0)

    func finish() {
        self.done.signal()
    }

    func append(_ more: [UInt8]) {
        self.lock.withLock { self.data.append(contentsOf: more) }
    }

    var text: String {
        self.lock.withLock { String(decoding: self.data, as: UTF8.self) }
    }
}
