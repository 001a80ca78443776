import ArgumentParser
import FaultlineCore
import FaultlineRecords
import Foundation

/// `faultline log`: read the event logs `--log` writes.
struct Log: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise or export an event log.",
        discussion: """
            Reads an event log written by 'faultline proxy --log FILE' (format: \
            faultline-events(5)). A line that is not a valid event stops the read with \
            FILE:LINE and what is wrong there (exit 2).
            """,
        subcommands: [Summary.self, Export.self]
    )
}

extension Log {
    /// `faultline log summary LOG`.
    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print connections, messages, faults by rule, bytes and durations.",
            discussion: """
                Also checks the accounting rule (for every connection and direction, bytes \
                received = bytes forwarded + bytes dropped, and every connection opened is \
                closed) and lists any connection that breaks it.

                Exit status: 0 the books balance; 1 they do not (a log of a proxy still \
                running or killed has connections never closed); 2 a file that is not an \
                event log, named with FILE:LINE, or an empty log (no events: a proxy \
                that never started or was killed before it wrote). A log that says it lost events \
                (log_dropped) cannot be checked, since a lost conn_close reads as a \
                connection never closed: the summary says so, lists what did not balance \
                and exits 0.
                """
        )

        @Argument(help: ArgumentHelp("An event log (JSON Lines).", valueName: "log"))
        var log: String

        /// Streams the log: memory stays flat however long it is.
        func run() throws {
            var summary = LogSummary()
            var events = 0
            try EventLogReader.forEach(path: self.log) { event, _ in
                events += 1
                summary.add(event)
            }
            // Nothing to balance is not balanced books: a failed run leaves such a log.
            guard events > 0 else { throw EventLogError.empty(self.log) }
            summary.finish()
            Output.line(summary.text)
            // As every check: 1 when it found violations. Not for a log that lost events.
            if summary.logDropped == 0, !summary.accounting.isEmpty {
                throw ExitCode(ExitStatus.violations)
            }
        }
    }

    /// `faultline log export LOG --format csv|json [-o FILE]`.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert an event log to CSV or a JSON array for other tools.",
            discussion: """
                csv: a header row, then one row per event; columns are the log's fields \
                (common ones first), params as key=value;key=value. json: one array of \
                the events, fields as in the log.
                """
        )

        @Argument(help: ArgumentHelp("An event log (JSON Lines).", valueName: "log"))
        var log: String

        @Option(help: ArgumentHelp("Output format: csv or json.", valueName: "format"))
        var format: LogExport.Format = .json

        @Option(name: .shortAndLong, help: ArgumentHelp("Write here instead of standard output.", valueName: "file"))
        var output: String?

        func run() throws {
            try OutputFile.refuseInput(self.output, inputs: [self.log], what: "event log")
            let events = try EventLogReader.read(path: self.log)
            let data = try LogExport.export(events, as: self.format)
            if let output = self.output {
                try OutputFile.write(data, to: output)
            } else {
                Output.write(data)
            }
        }
    }
}

extension LogExport.Format: ExpressibleByArgument {}
