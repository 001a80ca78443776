import ArgumentParser
import Logging

/// `--log-level`, shared by every long-running command. Operator logs go to standard
/// error through swift-log; the event log (`--log`) is product data and separate.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Operator log detail on standard error: trace, debug, info, notice, warning, error.")
    var logLevel: Logger.Level = .info

    /// Routes swift-log to standard error at the chosen level. Call once, from a command.
    func bootstrap() {
        let level = self.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
