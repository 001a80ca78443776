import ArgumentParser
import FaultlineChecker
import FaultlineCore
import Foundation

/// `faultline check`: judge what a run's records show.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Judge a client's retries from an event log, or a service's idempotency by replaying it.",
        discussion: """
            'check retries' reads event logs written by 'faultline proxy --framing ... \
            --log FILE' (or a UDP proxy with --log) and judges the client, with the \
            rule ids of docs/checker.md (CR-01 ... CR-22). 'check idempotency' replays \
            the requests of a log recorded with --record-payloads against a service and \
            judges it, with the rule ids of docs/replay.md (SR-01 ... SR-09). Exit \
            status: 0 no violations; 1 violations found (INFO findings never fail); 2 \
            unusable input (a log without framing or payloads, a cut or malformed line, \
            a bad --rules file), named with FILE:LINE; 3 a target that never answered.
            """,
        subcommands: [Retries.self, Idempotency.self]
    )
}

extension Check {
    /// `faultline check retries LOG...`
    struct Retries: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Judge whether a client retries safely: keys, backoff, jitter, attempts, deadlines.",
            discussion: """
                Groups the logged requests into logical requests (same idempotency key, \
                else the same request from the same client host within --window), \
                classifies how each attempt ended from the faults the proxy injected \
                (answered, never delivered, ambiguous, client gave up ...), and applies \
                the client rules: unsafe retries without a key (CR-01), keys changed or \
                reused (CR-03, CR-04), no or non-growing backoff (CR-06, CR-07), no \
                jitter (CR-08), no cap (CR-09), too many attempts (CR-10), retrying past \
                the deadline (CR-12), ignoring Retry-After (CR-13), retrying \
                non-retryable statuses (CR-14), hedging without a key (CR-15), retry \
                storms (CR-17), no client timeout (CR-19) and duplicate submission \
                (CR-22). Statistical rules say 'not enough evidence' below their sample \
                size rather than guess. Also prints what each client really does: its \
                backoff, jitter, attempts and deadline. Attempts are numbered from 0 \
                within each logical request, as in the event log.

                The log must come from a proxy with --framing (http, resp, line or \
                length), or a UDP proxy with --log (every datagram is a message): \
                without them there are no requests to judge.

                Exit status: 0 no violations; 1 violations; 2 bad usage, a log that \
                cannot be read (FILE:LINE), an empty one (no events: nothing to judge, \
                what a failed run leaves), one without framing, the same log given \
                twice, or a bad --rules file (FILE:LINE:COLUMN).
                """
        )

        @Argument(help: ArgumentHelp("Event logs (JSON Lines), read in order.", valueName: "log"))
        var logs: [String]

        @Option(help: ArgumentHelp("Report format: text, json, junit or html.", valueName: "format"))
        var format: ReportFormat = .text

        @Option(name: .shortAndLong, help: ArgumentHelp("Write the report here instead of standard output.", valueName: "file"))
        var output: String?

        @Option(help: ArgumentHelp("A YAML file that turns rules off, changes thresholds and severities, and tags operations (docs/checker.md).", valueName: "file"))
        var rules: String?

        @Option(help: ArgumentHelp("The request header carrying the idempotency key (another header than Idempotency-Key needs a log recorded with --record-payloads).", valueName: "name"))
        var keyHeader = "Idempotency-Key"

        @Option(help: ArgumentHelp("CR-10: the most attempts a logical request may take; also CR-17's limit on a client's mean attempts per request that met a fault.", valueName: "n"))
        var maxAttempts = 5

        @Option(help: ArgumentHelp("CR-12: the caller's deadline across all attempts of a request, e.g. 10s.", valueName: "duration"))
        var deadline: DurationArgument?

        @Option(help: ArgumentHelp("How long after an attempt ends a repeat still counts as its retry.", valueName: "duration"))
        var window = DurationArgument(.seconds(60))

        func validate() throws {
            if self.logs.isEmpty { throw ValidationError("give at least one event log") }
            // One log read twice would pair each request with itself as its own retry.
            var seen: [String: String] = [:]
            for log in self.logs {
                let resolved = URL(fileURLWithPath: log).resolvingSymlinksInPath().standardizedFileURL.path
                if let first = seen[resolved] {
                    throw ValidationError(first == log ? "the event log '\(log)' is given twice: give each log once" : "'\(first)' and '\(log)' are the same event log: give each log once")
                }
                seen[resolved] = log
            }
            if self.maxAttempts < 1 { throw ValidationError("--max-attempts must be at least 1, got \(self.maxAttempts)") }
            if self.keyHeader.isEmpty { throw ValidationError("--key-header must name a header") }
        }

        func run() throws {
            try OutputFile.refuseInput(self.output, inputs: self.logs + (self.rules.map { [$0] } ?? []), what: "input file")
            try self.check()
        }

        func check() throws {
            let settings = try self.rules.map(RuleSettings.load(path:)) ?? RuleSettings()
            let options = RetryCheckOptions(
                keyHeader: self.keyHeader,
                maxAttempts: self.maxAttempts,
                deadline: self.deadline?.duration,
                window: self.window.duration,
                settings: settings
            )
            let report = try RetryChecker.check(logs: self.logs, options: options)
            try ReportOutput.write(ReportWriter.write(report, as: self.format), to: self.output)
            if let output = self.output {
                printError("faultline: report written to \(output)")
            }
            if report.hasViolations {
                throw ExitCode(ExitStatus.violations)
            }
        }
    }
}

extension ReportFormat: ExpressibleByArgument {}

/// Writes a report to a file or standard output.
enum ReportOutput {
    /// - Throws: `OutputFile.write`'s errors: cannot create (exit 2), not written in
    ///   full (exit 3). A failed write to standard output fails the command at its end.
    static func write(_ text: String, to path: String?) throws {
        guard let path else {
            Output.line(text.hasSuffix("\n") ? String(text.dropLast()) : text)
            return
        }
        try OutputFile.write(Data(text.utf8), to: path)
    }
}
