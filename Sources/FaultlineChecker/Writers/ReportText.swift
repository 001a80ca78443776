/// Words and numbers every report format shares, so text, JUnit and HTML say the same
/// thing the same way.
///
/// Number formatting is done by hand (integer arithmetic, no `String(format:)`): it is
/// called for every mark of a 10,000-request timeline and must stay cheap and identical
/// on every platform.
enum ReportText {
    /// A duration for people: `0ms`, `420us`, `850ms`, `1.2s`, `12.5s`, `2m03s`, `1h02m`.
    ///
    /// Below a millisecond in microseconds, below a second in whole milliseconds, below a
    /// minute in tenths of a second (`1s`, not `1.0s`), then minutes and seconds, then
    /// hours and minutes. Negative durations keep their sign.
    static func duration(_ nanoseconds: Int64) -> String {
        if nanoseconds < 0 {
            // Int64.min has no positive counterpart; a report never holds it, but never trap.
            return "-" + Self.duration(nanoseconds == .min ? .max : -nanoseconds)
        }
        // Rounding adds up to half a second: a duration near Int64.max (a fault held for
        // millions of hours) must not overflow there.
        let ns = min(nanoseconds, .max - 1_000_000_000)
        if ns == 0 { return "0ms" }
        if ns < 999_500 {
            let us = (ns + 500) / 1_000
            return us == 0 ? "<1us" : "\(us)us"
        }
        if ns < 999_500_000 {
            return "\((ns + 500_000) / 1_000_000)ms"
        }
        let tenths = (ns + 50_000_000) / 100_000_000
        if tenths < 600 {
            return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
        }
        let seconds = (ns + 500_000_000) / 1_000_000_000
        if seconds < 3_600 {
            return "\(seconds / 60)m\(Self.pad2(seconds % 60))s"
        }
        let minutes = (seconds + 30) / 60
        return "\(minutes / 60)h\(Self.pad2(minutes % 60))m"
    }

    /// A time from the report's origin in seconds with milliseconds: `0.000s`, `12.345s`.
    static func seconds(_ nanoseconds: Int64) -> String {
        let negative = nanoseconds < 0
        let ms = (negative ? -(nanoseconds / 1_000) : nanoseconds / 1_000 ) / 1_000
        let text = "\(ms / 1_000).\(Self.pad3(ms % 1_000))s"
        return negative ? "-" + text : text
    }

    /// `value` with `places` decimals (0...3), rounded half away from zero; non-finite
    /// values as `nan`, `inf`, `-inf`.
    static func decimal(_ value: Double, places: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        let places = min(max(places, 0), 3)
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e18 else { return value < 0 ? "-\(abs(value))" : "\(value)" }
        let whole = Int64(scaled)
        let factor = Int64(scale)
        let sign = value < 0 && whole != 0 ? "-" : ""
        guard places > 0 else { return "\(sign)\(whole)" }
        var fraction = String(whole % factor)
        while fraction.count < places { fraction = "0" + fraction }
        return "\(sign)\(whole / factor).\(fraction)"
    }

    /// How the reports number attempts, said once wherever findings show their evidence:
    /// from 0 in each logical request, as the event log's `attempt` field does, so the
    /// number a finding's message names is the evidence row with that number.
    static let attemptNumbering = "Attempts count from 0 in each logical request, as in the event log: attempt 0 is the first request, attempt 1 the first retry."

    /// Whether any finding shows attempts as evidence (check idempotency's do not).
    static func showsAttempts(_ findings: [CheckReport.Finding]) -> Bool {
        findings.contains { !$0.evidence.isEmpty }
    }

    /// `1 attempt`, `3 attempts`.
    static func count(_ n: Int, _ singular: String, _ plural: String? = nil) -> String {
        "\(n) \(n == 1 ? singular : (plural ?? singular + "s"))"
    }

    /// The one-line verdict: `3 violations (1 HIGH, 2 MED)`, `no violations`, with INFO
    /// observations added when there are any (they never fail a build).
    static func verdict(_ report: CheckReport) -> String {
        if report.rules.count == 1, let only = report.rules.first, only.id == CheckReport.RuleResult.notRun { return only.evidence }
        let violations = report.findings.filter { $0.severity >= .low }
        let infos = report.findings.count - violations.count
        var text: String
        if violations.isEmpty {
            text = "no violations"
        } else {
            let bySeverity = Severity.allCases.reversed().compactMap { severity -> String? in
                let n = violations.count { $0.severity == severity }
                return n == 0 ? nil : "\(n) \(severity.rawValue)"
            }
            text = "\(Self.count(violations.count, "violation")) (\(bySeverity.joined(separator: ", ")))"
        }
        if infos > 0 {
            text += ", \(Self.count(infos, "INFO observation"))"
        }
        return text
    }

    /// The findings counts from the summary, most severe first: `1 CRIT, 2 HIGH`, or `none`.
    /// `check idempotency`'s operations by classification, every class named:
    /// `1 idempotent, 0 deduplicated by key, 1 at-least-once, 1 inconclusive`.
    static func classificationCounts(_ counts: CheckReport.IdempotencySummary.Classifications) -> String {
        "\(counts.idempotent) idempotent, \(counts.deduplicatedByKey) deduplicated by key, "
            + "\(counts.atLeastOnce) at-least-once, \(counts.inconclusive) inconclusive"
    }

    static func severityCounts(_ counts: [String: Int]) -> String {
        var parts: [String] = []
        for severity in Severity.allCases.reversed() {
            if let n = counts[severity.rawValue], n > 0 { parts.append("\(n) \(severity.rawValue)") }
        }
        // Keys the model does not know (a newer checker) still show, after the known ones.
        let known = Set(Severity.allCases.map(\.rawValue))
        for key in counts.keys.sorted() where !known.contains(key) {
            if let n = counts[key], n > 0 { parts.append("\(n) \(key)") }
        }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }

    /// `passed`, `failed`, `noted` (INFO findings only), `not enough evidence`,
    /// `not applicable`, `off`.
    static func status(_ status: CheckReport.RuleResult.Status) -> String {
        switch status {
        case .passed: "passed"
        case .failed: "failed"
        case .noted: "noted"
        case .notEnoughEvidence: "not enough evidence"
        case .notApplicable: "not applicable"
        case .off: "off"
        }
    }

    /// A rule result's status line: `failed: 3 retries in 1 logical request`,
    /// `not enough evidence: 12 gaps before attempt 1 (the most before any one attempt; needs 20)`, `off`.
    static func statusLine(_ result: CheckReport.RuleResult) -> String {
        switch result.status {
        case .off:
            return result.evidence.isEmpty ? "off (turned off by --rules)" : "off: \(result.evidence)"
        default:
            let word = Self.status(result.status)
            return result.evidence.isEmpty ? word : "\(word): \(result.evidence)"
        }
    }

    /// `HIGH CR-01 NONIDEMPOTENT_RETRY_NO_KEY — POST /charges (10.0.0.5)`.
    static func findingTitle(_ finding: CheckReport.Finding) -> String {
        var title = "\(finding.severity.rawValue) \(finding.rule) \(finding.name) — \(finding.operation)"
        if let client = finding.client { title += " (\(client))" }
        return title
    }

    /// Findings grouped by rule: groups by their most severe finding, then rule id; each
    /// group keeps the model's order (most severe first, then time).
    static func groupedByRule(_ findings: [CheckReport.Finding]) -> [(rule: String, findings: [CheckReport.Finding])] {
        var order: [String] = []
        var groups: [String: [CheckReport.Finding]] = [:]
        for finding in findings {
            if groups[finding.rule] == nil { order.append(finding.rule) }
            groups[finding.rule, default: []].append(finding)
        }
        let worst = groups.mapValues { $0.map(\.severity).max() ?? .info }
        let sorted = order.enumerated().sorted { a, b in
            let (sa, sb) = (worst[a.element]!, worst[b.element]!)
            if sa != sb { return sa > sb }
            if a.element != b.element { return a.element < b.element }
            return a.offset < b.offset
        }
        return sorted.map { ($0.element, groups[$0.element]!) }
    }

    /// The outcome as the log spells it: `answered`, `answered_by_proxy`, ...
    static func outcome(_ outcome: CheckReport.Outcome) -> String {
        outcome.rawValue
    }

    /// Thousands separated by commas: `12,345`.
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        guard digits.count > 4 else { return n < 0 ? "-" + digits : digits }
        var out = ""
        out.reserveCapacity(digits.count + digits.count / 3 + 1)
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }

    /// Rows padded to equal column widths, two spaces apart, trailing spaces trimmed.
    static func table(_ rows: [[String]], indent: String = "") -> [String] {
        guard let columns = rows.map(\.count).max(), columns > 0 else { return [] }
        var widths = Array(repeating: 0, count: columns)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        return rows.map { row in
            var line = indent
            for (i, cell) in row.enumerated() {
                line += cell
                if i < row.count - 1 { line += String(repeating: " ", count: widths[i] - cell.count + 2) }
            }
            while line.last == " " { line.removeLast() }
            return line
        }
    }

    private static func pad2(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
    private static func pad3(_ n: Int64) -> String { n < 10 ? "00\(n)" : n < 100 ? "0\(n)" : "\(n)" }
}
