/// The report for a person at a terminal: plain text, no colour codes.
///
/// ```
/// faultline check retries
/// inputs:   run/events.jsonl
/// ...
/// == Findings ==
/// Attempts count from 0 in each logical request, as in the event log: ...
/// -- CR-01 NONIDEMPOTENT_RETRY_NO_KEY: 1 finding --
/// HIGH CR-01 NONIDEMPOTENT_RETRY_NO_KEY — POST /charges (10.0.0.5)
///   POST /charges was retried 2 times after ambiguous outcomes without an idempotency key.
///     attempt  start   outcome    status  fault                gap
///     0        1.204s  ambiguous  -       cut-reply (sever)    -
///     ...
///   Fix: send one Idempotency-Key for all attempts of a logical request.
/// == Operations ==                    (check idempotency: each operation's classification)
/// == What your client really does ==  (check retries: per client)
/// == Rules ==                         (every rule's status line)
/// == Notes ==
/// 1 violation (1 HIGH)                (the last line: the verdict)
/// ```
/// Findings are grouped by rule, the group with the most severe finding first.
package enum TextReportWriter {
    package static func write(_ report: CheckReport) -> String {
        var lines: [String] = []
        lines.reserveCapacity(64 + report.findings.count * 12 + report.rules.count)
        Self.header(report, into: &lines)
        Self.findings(report, into: &lines)
        Self.operations(report, into: &lines)
        Self.clients(report, into: &lines)
        Self.rules(report, into: &lines)
        if !report.notes.isEmpty {
            lines.append("")
            lines.append("== Notes ==")
            for note in report.notes { lines.append("- \(Self.oneLine(note))") }
        }
        lines.append("")
        lines.append(ReportText.verdict(report))
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - Sections

    private static func header(_ report: CheckReport, into lines: inout [String]) {
        lines.append("faultline check \(report.check)")
        var rows: [[String]] = []
        rows.append(["inputs:", report.inputs.isEmpty ? "(none)" : report.inputs.joined(separator: ", ")])
        rows.append([report.seeds.count > 1 ? "seeds:" : "seed:",
                     report.seeds.isEmpty ? "unknown" : report.seeds.map(String.init).joined(separator: ", ")])
        switch report.counts {
        case .retries(let s):
            rows.append(["read:", "\(ReportText.count(s.events, "event")), \(ReportText.count(s.connections, "connection")), "
                + "\(ReportText.count(s.faults, "injected fault"))"])
            rows.append(["requests:", "\(ReportText.count(s.attempts, "attempt")) in "
                + "\(ReportText.count(s.logicalRequests, "logical request")) (\(s.retried) retried) "
                + "from \(ReportText.count(s.clients, "client"))"])
        case .idempotency(let s):
            rows.append(["read:", "\(ReportText.count(s.events, "event")), \(ReportText.count(s.operationsRecorded, "operation")) recorded"])
            rows.append(["operations:", "\(s.operations) (\(ReportText.classificationCounts(s.operationsByClassification)))"])
            rows.append(["sent:", "\(ReportText.count(s.requestsSent, "replayed request")), \(ReportText.count(s.probeRequests, "probe read"))"])
            rows.append(["replies:", "\(s.repliesReceived) received, \(s.repliesDropped) dropped on purpose (SR-05), \(s.unanswered) unanswered"])
        }
        rows.append(["findings:", ReportText.severityCounts(report.counts.findingsBySeverity)])
        lines.append(contentsOf: ReportText.table(rows))
    }

    private static func findings(_ report: CheckReport, into lines: inout [String]) {
        lines.append("")
        lines.append("== Findings ==")
        if report.findings.isEmpty {
            lines.append("")
            lines.append("none")
            return
        }
        if ReportText.showsAttempts(report.findings) {
            lines.append("")
            lines.append(ReportText.attemptNumbering)
        }
        for group in ReportText.groupedByRule(report.findings) {
            let first = group.findings[0]
            lines.append("")
            lines.append("-- \(group.rule) \(first.name): \(ReportText.count(group.findings.count, "finding")) --")
            for finding in group.findings {
                lines.append("")
                lines.append(contentsOf: Self.finding(finding))
            }
        }
    }

    /// One finding as lines: the title, the message, the evidence table and the fix. The
    /// JUnit writer puts the same lines in its `<failure>`.
    static func finding(_ finding: CheckReport.Finding, indent: String = "") -> [String] {
        var lines = [indent + Self.oneLine(ReportText.findingTitle(finding))]
        lines.append(indent + "  " + Self.oneLine(finding.message))
        if !finding.evidence.isEmpty {
            lines.append(contentsOf: Self.evidenceTable(finding.evidence, indent: indent + "    "))
        } else if !finding.requests.isEmpty {
            lines.append(indent + "  requests: " + finding.requests.joined(separator: ", "))
        }
        if let exchanges = finding.exchanges, !exchanges.isEmpty {
            lines.append(contentsOf: Self.exchangeTable(exchanges, indent: indent + "    "))
        }
        lines.append(indent + "  Fix: " + Self.oneLine(finding.fix))
        return lines
    }

    /// The evidence as an aligned table: attempt, start (seconds from origin), outcome,
    /// status, fault, gap since the previous attempt's end. A request column when the
    /// evidence spans several logical requests, a key column when any attempt had a key.
    static func evidenceTable(_ evidence: [CheckReport.AttemptEvidence], indent: String) -> [String] {
        let manyRequests = Set(evidence.map(\.request)).count > 1
        let keys = evidence.contains { $0.idempotencyKey != nil }
        var header = ["attempt", "start", "outcome", "status", "fault", "gap"]
        if manyRequests { header.insert("request", at: 0) }
        if keys { header.append("key") }
        var rows = [header]
        for e in evidence {
            var row = [
                String(e.attempt),
                ReportText.seconds(e.startNs),
                ReportText.outcome(e.outcome),
                e.status.map(String.init) ?? "-",
                e.fault.map(Self.oneLine) ?? "-",
                e.gapNs.map(ReportText.duration) ?? "-",
            ]
            if manyRequests { row.insert(Self.oneLine(e.request), at: 0) }
            if keys { row.append(e.idempotencyKey.map(Self.oneLine) ?? "-") }
            rows.append(row)
        }
        return ReportText.table(rows, indent: indent)
    }

    /// `check idempotency`'s exchanges, one line each: the step, the request's first line,
    /// and the reply (status and body line for HTTP, else its first line). The JSON and
    /// HTML reports hold them whole.
    static func exchangeTable(_ exchanges: [CheckReport.ExchangeEvidence], indent: String) -> [String] {
        var rows = [["step", "sent", "reply"]]
        for exchange in exchanges {
            rows.append([Self.oneLine(exchange.step), Self.excerpt(exchange.request),
                         Self.reply(exchange)])
        }
        return ReportText.table(rows, indent: indent)
    }

    /// `201 {"id":7}` for an HTTP reply (the status and the body's first line, the body
    /// starting after the first empty line), else the reply's first line (`:1`,
    /// `no reply within 5s`).
    static func reply(_ exchange: CheckReport.ExchangeEvidence) -> String {
        guard let status = exchange.status else { return Self.excerpt(exchange.reply) }
        let lines = exchange.reply.split(separator: "\n", omittingEmptySubsequences: false)
        let body = lines.firstIndex { $0.isEmpty || $0 == "\r" }
            .map { Self.excerpt(lines[($0 + 1)...].joined(separator: "\n")) } ?? ""
        return body.isEmpty ? String(status) : "\(status) \(body)"
    }

    /// The first non-empty line of `text`, at most 72 characters.
    private static func excerpt(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return Self.oneLine(line.count > 72 ? String(line.prefix(71)) + "…" : line)
    }

    private static func operations(_ report: CheckReport, into lines: inout [String]) {
        guard let operations = report.operations else { return }
        lines.append("")
        lines.append("== Operations ==")
        if operations.isEmpty {
            lines.append("")
            lines.append("none replayed")
            return
        }
        var rows: [[String]] = []
        for operation in operations {
            rows.append([
                Self.oneLine(operation.operation), operation.classification.rawValue,
                operation.keyed ? "keyed" : "no key", operation.probed ? "probed" : "replies only",
                operation.failedRules.isEmpty ? "-" : operation.failedRules.joined(separator: ", "),
                Self.oneLine(operation.reason) + (operation.source.map { " (\(Self.oneLine($0)))" } ?? ""),
            ])
        }
        lines.append(contentsOf: ReportText.table(rows, indent: "  "))
    }

    private static func clients(_ report: CheckReport, into lines: inout [String]) {
        guard !report.clients.isEmpty else { return }
        lines.append("")
        lines.append("== What your client really does ==")
        for client in report.clients {
            lines.append("")
            lines.append("\(Self.oneLine(client.client)): \(ReportText.count(client.logicalRequests, "logical request")), "
                + "\(client.retried) retried")
            var rows: [[String]] = []
            rows.append(["backoff", Self.backoff(client)])
            rows.append(["jitter", client.jitter + (client.jitterCV.map { " (CV \(ReportText.decimal($0, places: 2)))" } ?? "")])
            rows.append(["attempts", "max \(client.maxAttempts), mean \(ReportText.decimal(client.meanAttempts, places: 1))"])
            rows.append(["deadline", client.deadlineNs.map(ReportText.duration) ?? "none seen"])
            rows.append(["timeout", client.timeoutNs.map(ReportText.duration) ?? "none seen"])
            rows.append(["samples", ReportText.count(client.samples, "gap")])
            if let note = client.note { rows.append(["note", Self.oneLine(note)]) }
            lines.append(contentsOf: ReportText.table(rows, indent: "  "))
        }
    }

    /// `exponential: initial 100ms, growth x2.00, flat at ~1.6s over the last attempts
    /// seen (not necessarily the client's cap)`. `cap_ns` is where the longest delays
    /// stopped growing in this log, not a setting the log can show: a client whose cap
    /// was never reached, or whose last attempt numbers had few delays, levels off below
    /// its cap, so the words say what was seen.
    package static func backoff(_ client: CheckReport.ClientBehaviour) -> String {
        var parts: [String] = []
        if let initial = client.initialDelayNs { parts.append("initial \(ReportText.duration(initial))") }
        if let growth = client.growth {
            // A linear schedule has no growth factor: the figure is the exponential fit's,
            // which the straight line beat.
            let factor = "x\(ReportText.decimal(growth, places: 2))"
            parts.append(client.backoff == "linear" ? "\(factor) over the first attempts, a straight line fits better" : "growth \(factor)")
        }
        if let cap = client.capNs { parts.append("flat at ~\(ReportText.duration(cap)) over the last attempts seen (not necessarily the client's cap)") }
        return parts.isEmpty ? client.backoff : "\(client.backoff): \(parts.joined(separator: ", "))"
    }

    private static func rules(_ report: CheckReport, into lines: inout [String]) {
        guard !report.rules.isEmpty else { return }
        lines.append("")
        lines.append("== Rules ==")
        let rows = report.rules.map { rule in
            [rule.id, rule.name, rule.severity.rawValue, rule.operation.map(Self.oneLine) ?? "all",
             Self.oneLine(ReportText.statusLine(rule))]
        }
        lines.append(contentsOf: ReportText.table(rows, indent: "  "))
    }

    /// Text from traffic on one line: line breaks become spaces and other control
    /// characters (an escape sequence in an operation name) are dropped, so nothing in a
    /// log can move the cursor or colour the terminal.
    static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || (0x80..<0xA0).contains($0.value) })
        else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A, 0x0D, 0x09: out.append(" ")
            case 0..<0x20, 0x7F, 0x80..<0xA0: continue
            default: out.append(scalar)
            }
        }
        return String(out)
    }
}
