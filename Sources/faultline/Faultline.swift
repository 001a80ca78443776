import ArgumentParser
import FaultlineCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `faultline` command: a fault-injecting TCP/UDP proxy and chaos CLI.
@main
struct Faultline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faultline",
        abstract: "A fault-injecting TCP/UDP proxy and chaos CLI.",
        discussion: """
            faultline sits between a client and a real service and forwards traffic \
            byte for byte, or breaks it on purpose as a profile says.

            Exit status: 0 fine; 1 a check found violations; 2 bad usage, bad profile \
            or bad input file; 3 a runtime failure (port in use, capture refused).
            """,
        version: "0.1.0",
        subcommands: [Proxy.self, Run.self, Serve.self, Ctl.self, ProfileCommand.self, Log.self, Check.self, Capture.self, Demo.self]
    )

    /// Runs the command and maps errors to the statuses the README's "Exit status" table promises: a
    /// `UserFacingError` exits with its own status, a usage error with 2 (not
    /// ArgumentParser's 64), help and version with 0.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as any UserFacingError {
            printError("faultline: \(error)")
            terminate(error.exitStatus)
        } catch let error as ExitCode {
            terminate(error.rawValue)
        } catch where exitCode(for: error) == .validationFailure {
            printError(fullMessage(for: error))
            terminate(ExitStatus.badInput)
        } catch {
            exit(withError: error)
        }
    }
}

/// Writes one line to standard error.
func printError(_ message: String) {
    try? FileHandle.standardError.write(contentsOf: Data((message + "\n").utf8))
}

/// Ends the process at once with `status`.
func terminate(_ status: Int32) -> Never {
    fflush(nil)
    #if canImport(Glibc)
    Glibc.exit(status)
    #else
    Darwin.exit(status)
    #endif
}
