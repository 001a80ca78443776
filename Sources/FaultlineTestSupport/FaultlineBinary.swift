import Foundation

/// Runs the built `faultline` executable, as a user would from a shell.
///
/// `swift test` builds it beside the test bundle, so it is found next to
/// `Bundle.main.executableURL` (or through `FAULTLINE_BINARY`).
public final class FaultlineBinary: @unchecked Sendable {
    public let process = Process()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let lines: AsyncStream<String>
    private let stderrText = StderrCollector()

    public static var url: URL {
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

    /// Starts `faultline ARGS...`; standard output is read line by line.
    public init(_ arguments: [String], environment: [String: String]? = nil) throws {
        self.process.executableURL = Self.url
        self.process.arguments = arguments
        if let environment {
            self.process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        self.process.standardOutput = self.stdoutPipe
        self.process.standardError = self.stderrPipe
        self.process.standardInput = FileHandle.nullDevice
        let (stream, continuation) = AsyncStream<String>.makeStream()
        self.lines = stream
        let handle = self.stdoutPipe.fileHandleForReading
        let collector = self.stderrText
        let errorHandle = self.stderrPipe.fileHandleForReading
        Thread.detachNewThread {
            while true {
                let data = errorHandle.availableData
                if data.isEmpty { break }
                collector.append(data)
            }
            collector.finish()
        }
        Thread.detachNewThread {
            var pending = Data()
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                pending.append(data)
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
    public func nextLine() async -> String? {
        for await line in self.lines {
            return line
        }
        return nil
    }

    /// Waits for the `listening on HOST:PORT` line and returns the port.
    public func listeningPort() async -> Int? {
        while let line = await self.nextLine() {
            if line.hasPrefix("listening on "), let colon = line.lastIndex(of: ":") {
                return Int(line[line.index(after: colon)...])
            }
        }
        return nil
    }

    public func signal(_ number: Int32) {
        kill(self.process.processIdentifier, number)
    }

    /// Waits for the process to end and returns its exit status.
    public func exitStatus() async -> Int32 {
        let process = self.process
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume()
            }
        }
        return process.terminationStatus
    }

    /// Everything written to standard error so far.
    public var standardError: String {
        self.stderrText.text
    }

    /// Everything written to standard error, once the process has closed it.
    public func completeStandardError() async -> String {
        let collector = self.stderrText
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                collector.done.wait()
                collector.done.signal()
                continuation.resume(returning: collector.text)
            }
        }
    }

    /// Runs `faultline ARGS...` to completion.
    public static func run(_ arguments: [String], environment: [String: String]? = nil) async throws -> Result {
        let binary = try FaultlineBinary(arguments, environment: environment)
        var output: [String] = []
        while let line = await binary.nextLine() {
            output.append(line)
        }
        let status = await binary.exitStatus()
        let stderr = await binary.completeStandardError()
        return Result(status: status, stdout: output.joined(separator: "\n"), stderr: stderr)
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }
}

private final class StderrCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    let done = DispatchSemaphore(value: 0)

    func finish() {
        self.done.signal()
    }

    func append(_ more: Data) {
        self.lock.withLock { self.data.append(more) }
    }

    var text: String {
        self.lock.withLock { String(decoding: self.data, as: UTF8.self) }
    }
}
