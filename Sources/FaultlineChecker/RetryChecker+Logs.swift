import FaultlineRecords

extension RetryChecker {
    /// Checks the event logs at `logs`, read in order and streamed (one pass, bounded
    /// memory): what `check retries`, `run` and the demo all do.
    ///
    /// - Throws: `EventLogError` for a line that is not an event, or the checker's
    ///   `UserFacingError` for a log it cannot judge (exit 2 either way).
    package static func check(logs: [String], options: RetryCheckOptions) throws -> CheckReport {
        var checker = RetryChecker(options: options, inputs: logs)
        for log in logs {
            try EventLogReader.forEach(path: log) { event, line in
                try checker.consume(event, file: log, line: line)
            }
        }
        return checker.finish()
    }
}
