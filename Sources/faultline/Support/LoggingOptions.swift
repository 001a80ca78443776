import ArgumentParser
import Logging

/// `--log-level`, shared by every long-running command. Operator logs go to standard
/// error through swift-log; the event log (`--log`) is product data and separate.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Operator log detail on standard error: trace, debug, info, notice, warning, error (default: info; warning for run, which prints its own summary).")
    var logLevel: Logger.Level?

    /// Routes swift-log to standard error at the chosen level, else `defaultLevel`.
    /// Call once, from a command.
    func bootstrap(defaultLevel: Logger.Level = .info) {
        let level = self.logLevel ?? defaultLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
