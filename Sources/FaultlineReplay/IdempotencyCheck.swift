import FaultlineChecker
import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import Foundation
import Logging
import NIOCore
import NIOPosix

/// `faultline check idempotency`: judges a service by resending its recorded requests.
///
/// For each operation (one representative recorded request each) it runs the service
/// rules' experiments of docs/replay.md against `--target`, each with a fresh
/// idempotency key where the request carries one, reading the `--probe`s before and
/// after, and classifies the operation: idempotent, deduplicated by key, at-least-once,
/// or inconclusive. Everything it sends goes to the target (SR-05's first attempt
/// through a proxy of its own in front of it); with `dryRun` it prints every request
/// in order and sends none.
///
/// A request that gets no reply within the timeout (or a refused connection) ends the
/// run: the report holds what was found up to there.
package final class IdempotencyCheck {
    package let options: IdempotencyCheckOptions
    package let recorded: RecordedRequests
    let inputs: [String]
    let group: any EventLoopGroup
    /// One line per experiment, and every timeout: standard error in the CLI.
    let progress: @Sendable (String) -> Void
    /// Dry run: every request that would be sent, in order: standard output in the CLI.
    let plan: @Sendable (String) -> Void

    var probes: [StateProbe] = []
    /// What was sent and what came back, counted as it happens; `run` adds the rest.
    var counted = CheckReport.IdempotencySummary()
    /// Set when the target stopped answering: nothing more is sent.
    var stopped: String?
    /// Replies to replayed requests (probes not), dropped ones included: none at all
    /// means the target never answered what replay came to judge.
    var replayedAnswered = 0
    /// Why reply bodies were compared as received (`ReplayReply.note`), since a rule
    /// last took them: that rule's evidence says so.
    var bodyNotes: [String] = []

    package init(
        options: IdempotencyCheckOptions,
        recorded: RecordedRequests,
        inputs: [String],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        progress: @escaping @Sendable (String) -> Void = { _ in },
        plan: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.options = options
        self.recorded = recorded
        self.inputs = inputs
        self.group = group
        // Progress goes to a terminal: nothing from a reply may reach it raw.
        self.progress = { progress(ByteText.escapingControls($0)) }
        self.plan = plan
    }

    var wire: ReplayProtocol { self.recorded.wire }
    var target: HostPort { self.options.target.address }
    var hasProbe: Bool { !self.probes.isEmpty }

    /// The operations `--only` keeps, in log order.
    package var selected: [RecordedRequest] {
        guard !self.options.only.isEmpty else { return self.recorded.requests }
        let wanted = Set(self.options.only.map(Self.normalise))
        return self.recorded.requests.filter { wanted.contains(Self.normalise($0.operation)) }
    }

    static func normalise(_ operation: String) -> String {
        operation.split(whereSeparator: \.isWhitespace).joined(separator: " ").uppercased()
    }

    /// Runs every experiment (or prints them, `dryRun`) and returns the report.
    ///
    /// - Throws: `InvalidInputError` (exit 2) for a probe or `--only` that does not fit
    ///   the log; `RuntimeFailure` (exit 3) when the target never answered at all.
    package func run() async throws -> CheckReport {
        try self.options.validate()
        self.probes = try self.options.probes.map { try StateProbe.parse($0, wire: self.wire, target: self.target) }
        let known = Set(self.recorded.requests.map { Self.normalise($0.operation) })
        for name in self.options.only where !known.contains(Self.normalise(name)) {
            throw InvalidInputError(
                "--only '\(name)': the log has no such operation; it has: "
                    + self.recorded.requests.map(\.operation).joined(separator: ", ")
            )
        }
        self.progress(
            "faultline: replaying \(self.selected.count) operation(s) from \(self.inputs.joined(separator: ", ")) against \(self.target)"
                + (self.options.dryRun ? " (dry run: printing the requests, sending none)" : "")
        )
        var report = CheckReport(check: CheckReport.Counts.idempotencyCheck, inputs: self.inputs + ["target \(self.target)"], origin: 0, seeds: self.recorded.seeds)
        var verdicts: [CheckReport.OperationVerdict] = []
        for request in self.selected {
            if let stopped = self.stopped {
                verdicts.append(
                    CheckReport.OperationVerdict(
                        operation: request.operation, classification: .inconclusive,
                        reason: "not replayed: the target stopped answering earlier (\(stopped))",
                        probed: self.hasProbe, keyed: self.isKeyed(request), source: request.source
                    )
                )
                for rule in ServiceRule.perOperation {
                    report.rules.append(rule.result(.notEnoughEvidence, operation: request.operation, evidence: "not replayed: the target stopped answering"))
                }
                continue
            }
            var experiment = OperationExperiment(check: self, request: request)
            await experiment.run()
            report.rules += experiment.rules
            report.findings += experiment.findings
            verdicts.append(experiment.verdict())
        }
        if !self.options.dryRun, self.replayedAnswered == 0, let stopped = self.stopped {
            // Probes answering does not make a judgement: no replayed request was.
            let probes = self.counted.repliesReceived > 0 ? " (only the --probe reads were answered)" : ""
            throw RuntimeFailure("\(self.target) never answered a replayed request: \(stopped)\(probes)")
        }
        // Rows for what could not be framed, unless --only picked operations by name:
        // these have none (the note below still lists them).
        for lost in self.recorded.unframed where self.options.only.isEmpty {
            verdicts.append(
                CheckReport.OperationVerdict(
                    operation: lost.name, classification: .inconclusive, reason: lost.explanation,
                    probed: self.hasProbe, keyed: false, source: lost.source
                )
            )
        }
        for (rule, reason) in ServiceRule.notRun {
            report.rules.append(rule.result(.notApplicable, operation: "all", evidence: reason))
        }
        report.operations = verdicts
        report.findings.sort { ($0.severity, $1.rule, $1.operation) > ($1.severity, $0.rule, $0.operation) }
        report.counts = .idempotency(self.summary(verdicts, findings: report.findings))
        report.notes = self.notes(verdicts)
        return report
    }

    func isKeyed(_ request: RecordedRequest) -> Bool {
        request.wire == .http && HTTPRequestBytes(request.bytes)?.header(self.options.keyHeader) != nil
    }

    /// The report's counts: what was sent and came back (counted as it happened), the
    /// log's size, and the operations by classification.
    private func summary(_ verdicts: [CheckReport.OperationVerdict], findings: [CheckReport.Finding]) -> CheckReport.IdempotencySummary {
        var summary = self.counted
        summary.events = self.recorded.events
        summary.operationsRecorded = self.recorded.requests.count
        summary.operations = verdicts.count
        for verdict in verdicts { summary.operationsByClassification[verdict.classification] += 1 }
        for finding in findings { summary.findingsBySeverity[finding.severity.rawValue, default: 0] += 1 }
        return summary
    }

    private func notes(_ verdicts: [CheckReport.OperationVerdict]) -> [String] {
        var notes: [String] = []
        if self.options.dryRun {
            notes.append("Dry run: the requests were printed, none was sent; no verdicts.")
        }
        // The classification table, as lines every writer shows (JSON also has `operations`).
        for verdict in verdicts {
            notes.append(
                "Operation \(verdict.operation): \(verdict.classification.words) — \(verdict.reason)"
                    + (verdict.failedRules.isEmpty ? "" : "; failed: \(verdict.failedRules.joined(separator: ", "))")
                    + (verdict.source.map { " (recorded at \($0))" } ?? "")
            )
        }
        let counted = self.counted
        notes.append(
            "Replayed \(self.selected.count) of \(self.recorded.requests.count) operation(s) recorded in the log against "
                + "\(self.target): \(counted.requestsSent) request(s) and \(counted.probeRequests) probe read(s), each on a new connection; "
                + "\(counted.repliesReceived) repl\(counted.repliesReceived == 1 ? "y" : "ies") received, \(counted.repliesDropped) dropped on purpose by SR-05's proxy, "
                + "\(counted.unanswered) unanswered."
        )
        if self.hasProbe {
            notes.append("Effects were read with the probe(s) \(self.options.probes.map { "'\($0)'" }.joined(separator: ", ")) before and after each experiment.")
        } else {
            notes.append(
                "No --probe: effects were judged from the replies only (created resource ids in Location or the body's "
                    + "id, counters and other numbers in the body). This verdict is weaker: a service that applies a "
                    + "duplicate but answers with the cached reply looks clean, and an operation whose replies carry no "
                    + "id or number stays inconclusive. Give --probe with a read of the state the operation changes."
            )
        }
        notes.append(
            "Answers are compared in \(self.options.mode.rawValue) mode (\(self.options.mode == .strict ? "status and body" : "status class and resource id")) "
                + "without headers (Date, request ids, ETag and Idempotent-Replayed legitimately differ) and without volatile "
                + "JSON fields (\(VolatileFields.names.sorted().joined(separator: ", "))"
                + (self.options.ignoreFields.isEmpty ? "" : "; and --ignore-field \(self.options.ignoreFields.joined(separator: ", "))") + ")."
        )
        if self.wire == .http {
            notes.append(
                "Each experiment used a fresh \(self.options.keyHeader) value where the recorded request carried one "
                    + "(only that header changed; SR-03 also changed one JSON field and Content-Length)."
            )
        } else if self.wire == .line {
            notes.append("Line messages carry no idempotency key: SR-02, SR-03, SR-04 and SR-07 do not apply; each request went on a new connection.")
        } else {
            notes.append("RESP commands carry no idempotency key: SR-02, SR-03, SR-04 and SR-07 do not apply; each connection is new, so a recorded AUTH or SELECT is not replayed.")
        }
        if let stopped = self.stopped {
            notes.append("The target stopped answering (\(stopped)): the run ended there and the report holds what was found.")
        }
        if !self.recorded.unframed.isEmpty {
            notes.append(
                "Not replayed: \(self.recorded.unframed.count) recorded connection(s) whose requests the recording proxy could not "
                    + "frame (framing_fallback), so the log holds no request to resend and no verdict covers them: "
                    + self.recorded.unframed.map { "\($0.source) connection \($0.connection.map(String.init) ?? "?"): \($0.reason); \($0.remedy)" }
                    .joined(separator: "; ")
                    + "."
            )
        }
        return notes
    }
}

extension CheckReport.OperationVerdict.Classification {
    /// `at-least-once`, `deduplicated by key`: as the report's notes say it.
    package var words: String {
        switch self {
        case .idempotent: "idempotent"
        case .deduplicatedByKey: "deduplicated by key"
        case .atLeastOnce: "at-least-once (violation)"
        case .inconclusive: "inconclusive"
        }
    }
}
