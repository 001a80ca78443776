import ArgumentParser
import FaultlineChecker
import FaultlineCore
import FaultlineReplay
import Foundation

extension IdempotencyCheckOptions.Mode: ExpressibleByArgument {}

extension Check {
    /// `faultline check idempotency LOG --target HOST:PORT`
    struct Idempotency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Judge whether a service deduplicates: replay its recorded requests against it.",
            discussion: """
                Takes one recorded request per operation from LOG (HTTP: method and route, \
                numeric and UUID segments folded into {id}; RESP: the command, 'SET ... NX' \
                as SET NX; line: the first word) and sends it to --target in experiments, each with a fresh \
                idempotency key where the request carries one: the same request 3 times \
                in a row (SR-01), the same key twice for the same answer (SR-02), the same \
                key with one JSON field changed (SR-03), --concurrency identical keyed \
                requests released together (SR-04), a lost reply through a proxy of its \
                own then the retry (SR-05), and for --key-required operations the request \
                without its key (SR-07). --probe reads the state before and after each \
                experiment; without one, verdicts rest on the replies and are weaker. \
                Each operation ends idempotent, deduplicated by key, at-least-once (a \
                violation) or inconclusive. docs/replay.md explains each experiment.

                Requests go to --target only. Replaying changes the service's state: run \
                against a test deployment, and use --dry-run first to see every request \
                (printed to standard output, none sent). Progress, one line per \
                experiment, goes to standard error. A request unanswered within --timeout \
                ends the run with what was found.

                The log must come from 'faultline proxy --framing http' (or resp, or \
                line: one request per line, no key) with --record-payloads. Exit status: 0 no violations; 1 violations; 2 unusable \
                log or options; 3 the target never answered.
                """
        )

        @Argument(help: ArgumentHelp("The event log (JSON Lines) whose requests are replayed.", valueName: "log"))
        var log: String

        @Option(help: ArgumentHelp("The service to replay against; nothing else is ever contacted.", valueName: "host:port"))
        var target: String

        @Option(name: .customLong("probe"), help: ArgumentHelp("A read of the state, before and after each experiment: 'GET /accounts/1' (HTTP), 'GET counter' (RESP) or a line ('deposit 0'). Repeatable.", valueName: "request"))
        var probes: [String] = []

        @Option(help: ArgumentHelp("Replay only this operation, as the report names it ('POST /charges/{id}', INCR). Repeatable.", valueName: "operation"))
        var only: [String] = []

        @Option(help: ArgumentHelp("SR-04: how many identical keyed requests are released together.", valueName: "n"))
        var concurrency = 5

        @Option(name: .customLong("ignore-field"), help: ArgumentHelp("A JSON path left out when answers are compared, e.g. $.created_at. Repeatable.", valueName: "path"))
        var ignoreFields: [String] = []

        @Option(help: ArgumentHelp("How answers are compared: strict (status and body) or semantic (status class and resource id).", valueName: "mode"))
        var mode: IdempotencyCheckOptions.Mode = .strict

        @Option(help: ArgumentHelp("The request header carrying the idempotency key.", valueName: "name"))
        var keyHeader = "Idempotency-Key"

        @Option(name: .customLong("key-required"), help: ArgumentHelp("SR-07: an operation that must reject a request without the key with 400. Repeatable.", valueName: "operation"))
        var keyRequired: [String] = []

        @Option(help: ArgumentHelp("How long each request waits for its reply.", valueName: "duration"))
        var timeout = DurationArgument(.seconds(5))

        @Flag(help: "Print every request that would be sent, in order, and send none.")
        var dryRun = false

        @Option(help: ArgumentHelp("Report format: text, json, junit or html.", valueName: "format"))
        var format: ReportFormat = .text

        @Option(name: .shortAndLong, help: ArgumentHelp("Write the report here instead of standard output.", valueName: "file"))
        var output: String?

        func validate() throws {
            if self.concurrency < 2 { throw ValidationError("--concurrency must be at least 2, got \(self.concurrency)") }
            if self.timeout.duration <= .zero { throw ValidationError("--timeout must be more than 0") }
        }

        func run() async throws {
            try OutputFile.refuseInput(self.output, inputs: [self.log], what: "event log")
            let address = try HostPort(parsing: self.target, what: "--target")
            var options = IdempotencyCheckOptions(target: ReplayTarget(address: address))
            options.probes = self.probes
            options.only = self.only
            options.concurrency = self.concurrency
            options.ignoreFields = self.ignoreFields
            options.mode = self.mode
            options.keyHeader = self.keyHeader
            options.keyRequired = self.keyRequired
            options.timeout = self.timeout.duration
            options.dryRun = self.dryRun
            try options.validate()
            let recorded = try RecordedRequests.load(path: self.log)
            let check = IdempotencyCheck(
                options: options,
                recorded: recorded,
                inputs: [self.log],
                progress: { printError($0) },
                plan: { Output.line($0 + "\n") }
            )
            let report = try await check.run()
            if self.dryRun {
                // Standard output holds the requests; a report (no verdicts, every count
                // 0) goes only where -o says.
                if let output = self.output {
                    try ReportOutput.write(ReportWriter.write(report, as: self.format), to: output)
                    printError("faultline: report written to \(output)")
                }
                printError("faultline: dry run: \(check.selected.count) operation(s), nothing sent")
                return
            }
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
