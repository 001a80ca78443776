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
