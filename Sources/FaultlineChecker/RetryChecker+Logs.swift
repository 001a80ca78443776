import FaultlineRecords

extension RetryChecker {
    /// Checks the event logs at `logs`, read in order and streamed (one pass, bounded
    /// memory): what `check retries`, `run` and the demo all do.
    ///
    /// - Throws: `EventLogError` for a line that is not an event or a log with no
    ///   event at all (`EventLogError.empty`), or the checker's
    ///   `UserFacingError` for a log it cannot judge (exit 2 either way).
    package static func check(logs: [String], options: RetryCheckOptions) throws -> CheckReport {
        var checker = RetryChecker(options: options, inputs: logs)
        for log in logs {
            var events = 0
            try EventLogReader.forEach(path: log) { event, line in
                events += 1
                try checker.consume(event, file: log, line: line)
            }
            guard events > 0 else { throw EventLogError.empty(log) }
        }
        return checker.finish()
    }
}
