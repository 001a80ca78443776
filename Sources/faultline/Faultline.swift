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

            Exit status: 0 fine; 1 a check found violations; 2 bad usage, a bad profile \
            or a bad input file (the message names the file, line and column where there \
            is one), an output file (--log, --pcap, -o) that cannot be created, or -o \
            naming an input file; 3 a runtime failure: port in use, a port this user may \
            not bind, capture not allowed, or output (-o, standard output, a capture) \
            that could not be written in full, such as on a full disk (the message names \
            the file and the reason). A reader of standard output that went away \
            ('| head') ends a command quietly with 141, as SIGPIPE would. 'run' also exits 124 when its command timed out, and passes the \
            command's own failing status through (see 'faultline run --help').
            """,
        version: "0.1.0",
        subcommands: [Proxy.self, Run.self, Serve.self, Ctl.self, ProfileCommand.self, Log.self, Check.self, Capture.self, Demo.self]
    )

    /// Runs the command and maps errors to the statuses the README's "Exit status" table promises: a
    /// `UserFacingError` exits with its own status, a usage error with 2 (not
    /// ArgumentParser's 64), help and version with 0.
    static func main() async {
        if let message = Self.unknownHelpTopic(Array(CommandLine.arguments.dropFirst())) {
            printError(message)
            terminate(ExitStatus.badInput)
        }
        var parsed: (any ParsableCommand.Type)?
        do {
            var command = try parseAsRoot()
            parsed = type(of: command)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
            try Output.check()
        } catch let error as any UserFacingError {
            // An error may quote a log line, a file or traffic: no control bytes reach
            // the terminal (a log line with ESC sequences set the window title).
            printError("faultline: \(error)".escapingControls(keepingLineBreaks: true))
            terminate(error.exitStatus)
        } catch let error as ExitCode {
            // Violations (1) found, but the report never reached standard output: the
            // write failure wins, as a check that could not say its result.
            do { try Output.check() } catch let failure as any UserFacingError {
                printError("faultline: \(failure)")
                terminate(failure.exitStatus)
            } catch let failure as ExitCode {
                terminate(failure.rawValue)
            } catch {}
            terminate(error.rawValue)
        } catch where exitCode(for: error) == .validationFailure {
            printError(Self.usageError(error, of: parsed))
            terminate(ExitStatus.badInput)
        } catch {
            exit(withError: error)
        }
    }
}

extension Faultline {
    /// A usage error with the usage of the command it is about. One a command throws
    /// while it runs (a framing option that needs the profile read first) came with
    /// the top-level usage, `faultline <subcommand>`, as if no command had been given.
    static func usageError(_ error: any Error, of command: (any ParsableCommand.Type)?) -> String {
        guard let command, command != Faultline.self else { return fullMessage(for: error) }
        let usage = usageString(for: command)
        // "faultline proxy [<options>] …": the command's words, up to its first argument.
        let words = usage.split(separator: " ").prefix { !$0.hasPrefix("[") && !$0.hasPrefix("<") && !$0.hasPrefix("-") }
        return "Error: \(message(for: error))\nUsage: \(usage)\n  See '\(words.joined(separator: " ")) --help' for more information."
    }

    /// The usage error for `faultline help NAME...` when a NAME is no subcommand of the
    /// command before it, or nil. ArgumentParser's `help` shows the help of the last
    /// command it recognises and exits 0, so `faultline help nosuch` printed the
    /// top-level help as if asked; `faultline nosuch` is a usage error (exit 2), and so is
    /// this, in the same shape: what is wrong, the usage, where to read more.
    static func unknownHelpTopic(_ arguments: [String]) -> String? {
        guard arguments.first == "help" else { return nil }
        var command: any ParsableCommand.Type = Faultline.self
        var path = [Faultline._commandName]
        // `help` takes command names only; -h and --help after them are ignored.
        for name in arguments.dropFirst() where !name.hasPrefix("-") {
            let subcommands = command.configuration.subcommands
            if let next = subcommands.first(where: { $0._commandName == name || $0.configuration.aliases.contains(name) }) {
                command = next
                path.append(name)
                continue
            }
            if path.count == 1, name == "help" { continue }  // `faultline help help`
            let known = subcommands.map { $0._commandName }.joined(separator: ", ")
            let reason =
                subcommands.isEmpty
                ? "'\(path.joined(separator: " "))' has no subcommands"
                : "the subcommands of '\(path.joined(separator: " "))' are \(known)"
            return """
                Error: Unknown subcommand '\(name)': \(reason).
                Usage: \(Faultline.usageString(for: command))
                  See '\(path.joined(separator: " ")) --help' for more information.
                """
        }
        return nil
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
