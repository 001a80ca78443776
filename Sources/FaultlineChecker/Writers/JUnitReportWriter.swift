/// The report for CI: JUnit XML as GitHub Actions test reporters, GitLab and Jenkins read it.
///
/// ```
/// <?xml version="1.0" encoding="UTF-8"?>
/// <testsuites name="faultline check retries" tests="11" failures="3" errors="0" skipped="3" time="0">
///   <testsuite name="CR-01 NONIDEMPOTENT_RETRY_NO_KEY" tests="2" failures="1" ...>
///     <testcase classname="faultline.retries.CR-01" name="POST /charges" time="0">
///       <failure message="POST /charges was sent 3 times ..." type="HIGH">(the findings, as in text)</failure>
///     </testcase>
///     <testcase classname="faultline.retries.CR-01" name="POST /refunds" time="0"/>
///   </testsuite>
///   ...
/// ```
/// One suite per rule, one case per `RuleResult` (named by its operation, or `all`).
/// `failed` → `<failure>` holding that rule's findings for that operation; not enough
/// evidence, not applicable and off → `<skipped message="...">`; passed → an empty case.
/// A noted result (findings, all INFO), or a failed one whose findings are all INFO, is
/// not a failure (INFO never fails a build): it passes with the findings in `<system-out>`. A violation whose rule and operation no
/// result covers still gets a failing case, so CI never passes a report that exits 1.
package enum JUnitReportWriter {
    package static func write(_ report: CheckReport) -> String {
        let cases = Self.cases(report)
        var out = ""
        out.reserveCapacity(1_024 + cases.count * 512)
        out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        let failures = cases.count { $0.kind == .failure }
        let skipped = cases.count { $0.kind == .skipped }
        out += "<testsuites name=\"faultline check \(Self.attr(report.check))\" tests=\"\(cases.count)\" "
        out += "failures=\"\(failures)\" errors=\"0\" skipped=\"\(skipped)\" time=\"0\">\n"

        var order: [String] = []
        var suites: [String: [TestCase]] = [:]
        for testCase in cases {
            if suites[testCase.rule] == nil { order.append(testCase.rule) }
            suites[testCase.rule, default: []].append(testCase)
        }
        for rule in order {
            let members = suites[rule]!
            out += "  <testsuite name=\"\(Self.attr(rule)) \(Self.attr(members[0].name))\" tests=\"\(members.count)\" "
            out += "failures=\"\(members.count { $0.kind == .failure })\" errors=\"0\" "
            out += "skipped=\"\(members.count { $0.kind == .skipped })\" time=\"0\">\n"
            for testCase in members {
                out += "    <testcase classname=\"faultline.\(Self.attr(report.check)).\(Self.attr(rule))\" "
                out += "name=\"\(Self.attr(testCase.operation ?? "all"))\" time=\"0\""
                switch testCase.kind {
                case .passed where testCase.body.isEmpty:
                    out += "/>\n"
                    continue
                case .passed:
                    out += ">\n      <system-out>"
                    MarkupEscaping.append(testCase.body, to: &out)
                    out += "</system-out>\n"
                case .failure:
                    out += ">\n      <failure message=\"\(Self.attr(testCase.message))\" type=\"\(testCase.severity.rawValue)\">"
                    MarkupEscaping.append(testCase.body, to: &out)
                    out += "</failure>\n"
                case .skipped:
                    out += ">\n      <skipped message=\"\(Self.attr(testCase.message))\"/>\n"
                }
                out += "    </testcase>\n"
            }
            out += "  </testsuite>\n"
        }
        out += "</testsuites>\n"
        return out
    }

    struct TestCase {
        enum Kind { case passed, failure, skipped }
        var rule: String
        var name: String
        var operation: String?
        var kind: Kind
        var severity: Severity
        var message: String
        var body: String
    }

    /// Every rule result as a test case, then violations no result covers.
    static func cases(_ report: CheckReport) -> [TestCase] {
        var covered = Array(repeating: false, count: report.findings.count)
        var cases: [TestCase] = []
        cases.reserveCapacity(report.rules.count)
        for result in report.rules {
            var matched: [CheckReport.Finding] = []
            for (i, finding) in report.findings.enumerated()
            where finding.rule == result.id && (result.operation == nil || finding.operation == result.operation) {
                matched.append(finding)
                covered[i] = true
            }
            var testCase = TestCase(rule: result.id, name: result.name, operation: result.operation, kind: .passed,
                                    severity: result.severity, message: "", body: "")
            switch result.status {
            case .passed:
                break
            case .noted:
                // INFO findings never fail a build: the case passes and holds them.
                testCase.body = Self.body(matched, result: result)
            case .failed:
                let violations = matched.filter { $0.severity >= .low }
                if matched.isEmpty && result.severity >= .low || !violations.isEmpty {
                    testCase.kind = .failure
                    testCase.severity = violations.map(\.severity).max() ?? result.severity
                    testCase.message = Self.message(violations, result: result)
                    testCase.body = Self.body(matched, result: result)
                } else {
                    testCase.body = Self.body(matched, result: result)
                }
            case .notEnoughEvidence, .notApplicable, .off:
                testCase.kind = .skipped
                testCase.message = ReportText.statusLine(result)
            }
            cases.append(testCase)
        }
        // Violations without a result: one failing case per rule and operation.
        var order: [String] = []
        var uncovered: [String: [CheckReport.Finding]] = [:]
        for (i, finding) in report.findings.enumerated() where !covered[i] && finding.severity >= .low {
            let key = finding.rule + "\u{0}" + finding.operation
            if uncovered[key] == nil { order.append(key) }
            uncovered[key, default: []].append(finding)
        }
        for key in order {
            let findings = uncovered[key]!
            let first = findings[0]
            cases.append(TestCase(rule: first.rule, name: first.name, operation: first.operation, kind: .failure,
                                  severity: findings.map(\.severity).max() ?? first.severity,
                                  message: Self.message(findings, result: nil), body: Self.body(findings, result: nil)))
        }
        return cases
    }

    /// The failure's one-line message: the finding's own sentence, or how many there are.
    private static func message(_ findings: [CheckReport.Finding], result: CheckReport.RuleResult?) -> String {
        switch findings.count {
        case 0: return TextReportWriter.oneLine(result.map(ReportText.statusLine) ?? "failed")
        case 1: return TextReportWriter.oneLine(findings[0].message)
        default: return "\(findings.count) findings: " + TextReportWriter.oneLine(findings[0].message)
        }
    }

    /// The findings as the text report writes them, after the result's evidence sentence.
    private static func body(_ findings: [CheckReport.Finding], result: CheckReport.RuleResult?) -> String {
        var lines: [String] = []
        if let result, !result.evidence.isEmpty {
            lines.append(TextReportWriter.oneLine(result.evidence))
        }
        // Each failure is read on its own in CI, so each says how attempts are numbered.
        if ReportText.showsAttempts(findings) {
            lines.append(ReportText.attemptNumbering)
        }
        for finding in findings {
            if !lines.isEmpty { lines.append("") }
            lines.append(contentsOf: TextReportWriter.finding(finding))
        }
        return lines.joined(separator: "\n")
    }

    private static func attr(_ text: String) -> String {
        MarkupEscaping.attribute(text)
    }
}
