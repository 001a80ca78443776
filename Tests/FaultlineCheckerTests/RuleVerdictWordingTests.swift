import FaultlineCore
import Foundation
import Testing

@testable import FaultlineChecker

/// The rules table says what the findings carry and what a pass rests on: a rule with
/// findings never reads "passed", its severity is its findings', and a pass that rests
/// on no evidence is "not enough evidence". Each case is one a trial's report got wrong
/// (Go and Ruby clients, trialG).
struct RuleVerdictWordingTests {
    typealias Log = SyntheticLog
    static let ms = SyntheticLog.ms
    static let s = SyntheticLog.s

    /// `count` GETs, each its own fingerprint, failed once and retried once after `gap`.
    static func retriedOnce(_ count: Int, gap: UInt64) -> Log {
        var log = Log()
        for i in 0..<count {
            let request = Log.Request(method: "GET", path: "/items/\(i)", key: nil, fingerprint: "fp-\(i)", client: "10.0.0.1")
            log.logical(request, at: 1_000 * Self.s + UInt64(i) * 30 * Self.s, outcomes: [.replyLost(), .answered()], delays: { _ in gap })
        }
        return log
    }

    /// `count` POSTs without a key, each sent again 50 ms after it succeeded (CR-22,
    /// INFO by default).
    static func sentAgain(_ count: Int) -> Log {
        var log = Log()
        for i in 0..<count {
            let request = Log.Request(key: nil, fingerprint: "fp-\(i)")
            let end = log.attempt(request, at: 1_000 * Self.s + UInt64(i) * 90 * Self.s, .answered())
            log.attempt(request, at: end + 50 * Self.ms, .answered())
        }
        return log
    }

    static func text(_ report: CheckReport) -> String {
        ReportWriter.write(report, as: .text)
    }

    /// The line of the text report's rules table for `id`.
    static func rulesLine(_ id: String, in report: CheckReport) throws -> String {
        let text = Self.text(report)
        let rules = try #require(text.range(of: "== Rules =="))
        return try #require(text[rules.upperBound...].split(separator: "\n").first { $0.hasPrefix("  \(id)  ") }.map(String.init), "\(text)")
    }

    /// Whatever the log, every rule with findings reads failed (a violation among
    /// them) or noted (all INFO), never passed, and carries their worst severity.
    static func expectTheTableMatchesTheFindings(_ report: CheckReport, sourceLocation: SourceLocation = #_sourceLocation) {
        for result in report.rules {
            let findings = report.findings.filter { $0.rule == result.id }
            guard let worst = findings.map(\.severity).max() else { continue }
            let expected: CheckReport.RuleResult.Status = worst >= .low ? .failed : .noted
            #expect(result.status == expected, "\(result.id): \(result.status) with \(findings.count) findings\n\(report.digest)", sourceLocation: sourceLocation)
            #expect(result.severity == worst, "\(result.id): \(result.severity) but its findings are \(worst)", sourceLocation: sourceLocation)
        }
    }

    // MARK: CR-06: a pass that rests on nothing is not a pass

    /// trialG's rhttp-careless-getonly: "passed: 153 of 153 retries immediate", which
    /// reads as if the client backs off. Every retry was the single immediate first retry
    /// CR-06 allows, and no later retry shows whether it backs off: not enough evidence.
    @Test func retriesThatWereAllASingleImmediateFirstRetryAreNotEnoughEvidence() throws {
        let report = try Self.retriedOnce(20, gap: 1 * Self.ms).check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        let cr06 = try #require(report.rule("CR-06"))
        #expect(cr06.status == .notEnoughEvidence, "\(report.digest)")
        #expect(cr06.evidence.hasPrefix("20 of 20 retries immediate (< 10 ms), each a first retry (attempt 1)"), "\(cr06.evidence)")
        #expect(cr06.evidence.contains("; no later retries, so nothing shows whether the client backs off"), "\(cr06.evidence)")
        let line = try Self.rulesLine("CR-06", in: report)
        #expect(line.contains("NO_BACKOFF") && line.contains("not enough evidence: 20 of 20 retries immediate"), "\(line)")
        #expect(!line.contains("passed"), "\(line)")
        #expect(!report.hasViolations)
    }

    /// The same client waiting 200 ms before its one retry did wait: that pass rests on
    /// every retry it made.
    @Test func aSingleRetryAfterAWaitStillPasses() throws {
        let report = try Self.retriedOnce(20, gap: 200 * Self.ms).check()
        let cr06 = try #require(report.rule("CR-06"))
        #expect(cr06.status == .passed, "\(report.digest)")
        #expect(cr06.evidence.hasPrefix("0 of 20 retries immediate"), "\(cr06.evidence)")
    }

    // MARK: CR-22, CR-15: INFO findings

    /// trialG's redisrb logs: "CR-22 DUPLICATE_SUBMISSION MED all passed: 3
    /// non-idempotent requests sent again after a success" above 3 INFO CR-22 findings.
    /// The table says INFO and noted, and the check still passes (INFO never fails).
    @Test func infoFindingsReadNotedAtInfoNeverPassed() throws {
        let report = try Self.sentAgain(3).check()
        #expect(report.findings.map(\.rule) == ["CR-22", "CR-22", "CR-22"], "\(report.digest)")
        let cr22 = try #require(report.rule("CR-22"))
        #expect(cr22.status == .noted)
        #expect(cr22.severity == .info)
        #expect(cr22.evidence == "3 non-idempotent requests sent again after a success; 3 INFO findings (reported, never failing the check)", "\(cr22.evidence)")
        let line = try Self.rulesLine("CR-22", in: report)
        #expect(line.hasPrefix("  CR-22  DUPLICATE_SUBMISSION") && line.contains("  INFO  all  noted: 3 non-idempotent requests"), "\(line)")
        #expect(!report.hasViolations)
        #expect(Self.text(report).hasSuffix("\nno violations, 3 INFO observations\n"))
        Self.expectTheTableMatchesTheFindings(report)
    }

    /// Raised by the rules, the same findings are violations: failed, at MED.
    @Test func raisedByTheRulesTheSameFindingsFail() throws {
        let strict = try RuleSettings.parse("faultline_rules: 1\nrules:\n  CR-22: {severity: MED}\n", file: "rules.yaml")
        let report = try Self.sentAgain(3).check(RetryCheckOptions(settings: strict))
        let cr22 = try #require(report.rule("CR-22"))
        #expect(cr22.status == .failed && cr22.severity == .medium, "\(report.digest)")
        #expect(cr22.evidence.hasSuffix("; 3 findings"), "\(cr22.evidence)")
        Self.expectTheTableMatchesTheFindings(report)
    }

    /// Without findings the table shows the severity a finding would get: CR-15 and
    /// CR-22 are INFO unless the rules raise them (the rule book's HIGH and MED were
    /// shown before, over INFO findings).
    @Test func withoutFindingsTheSeverityIsTheOneAFindingWouldGet() throws {
        let report = try Self.retriedOnce(3, gap: 200 * Self.ms).check()
        #expect(report.rule("CR-15")?.severity == .info)
        #expect(report.rule("CR-22")?.severity == .info)
        #expect(report.rule("CR-01")?.severity == .high)
        let strict = try RuleSettings.parse("faultline_rules: 1\nrules:\n  CR-15: {severity: HIGH}\n", file: "rules.yaml")
        let raised = try Self.retriedOnce(3, gap: 200 * Self.ms).check(RetryCheckOptions(settings: strict))
        #expect(raised.rule("CR-15")?.severity == .high)
        #expect(raised.notes.contains("CR-15 severity set to HIGH by rules.yaml (default INFO)"), "\(raised.notes)")
    }

    /// A retry after a not-applied attempt is CR-01 INFO only: noted, at INFO, and the
    /// severity column says so (not the rule book's HIGH).
    @Test func aRuleWhoseOnlyFindingIsInfoShowsInfo() throws {
        var log = Log()
        log.logical(Log.Request(key: nil), at: 1_000 * Self.s, outcomes: [.requestLost(), .answered()], delays: { _ in 200 * Self.ms })
        let report = try log.check()
        let cr01 = try #require(report.rule("CR-01"))
        #expect(cr01.status == .noted && cr01.severity == .info, "\(report.digest)")
        Self.expectTheTableMatchesTheFindings(report)
    }

    /// Findings past the 500 kept are counted at the severity the kept ones carry: 502
    /// CR-22 findings are 502 INFO in the summary, none MED.
    @Test func findingsPastTheLimitKeepTheirSeverity() throws {
        let report = try Self.sentAgain(RetryChecker.findingLimit + 2).check()
        #expect(report.findings.count == RetryChecker.findingLimit)
        #expect(report.summary.findingsBySeverity == ["INFO": RetryChecker.findingLimit + 2], "\(report.summary.findingsBySeverity)")
        let cr22 = try #require(report.rule("CR-22"))
        #expect(cr22.status == .noted && cr22.severity == .info)
        #expect(cr22.evidence.contains("; 502 INFO findings"), "\(cr22.evidence)")
    }

    /// The invariant over logs that break several rules at once.
    @Test func theTableMatchesTheFindingsWhateverTheLog() throws {
        var mixed = Self.sentAgain(2)
        mixed.logical(Log.Request(key: nil, fingerprint: "lost"), at: 2_000 * Self.s, outcomes: [.replyLost(), .answered()], delays: { _ in 1 * Self.ms })
        mixed.logical(Log.Request(key: nil, fingerprint: "not-applied"), at: 2_100 * Self.s, outcomes: [.requestLost(), .answered()], delays: { _ in 1 * Self.ms })
        for log in [mixed, Self.retriedOnce(20, gap: 1 * Self.ms), Self.sentAgain(4)] {
            let report = try log.check()
            Self.expectTheTableMatchesTheFindings(report)
        }
    }
}
