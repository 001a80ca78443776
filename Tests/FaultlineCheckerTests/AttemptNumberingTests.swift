import FaultlineCore
import Testing

@testable import FaultlineChecker

/// A finding's "attempt N" is the evidence row numbered N: both count from 0 in each
/// logical request, as the event log does (docs/checker.md, "Attempt numbers in the
/// reports"). Each test reads the numbers back out of a message and checks that the row
/// with that number is the attempt the message describes (its outcome, fault, status,
/// key or time), so messages counting from 1 next to rows counting from 0 fail here.
struct AttemptNumberingTests {
    typealias Log = SyntheticLog
    static let ms = SyntheticLog.ms
    static let s = SyntheticLog.s

    /// Every "attempt N" the message names, in order ("3 attempts in all" is a count).
    static func attemptNumbers(_ finding: CheckReport.Finding) -> [Int] {
        finding.message.matches(of: /attempt (\d+)/).compactMap { Int($0.1) }
    }

    /// The evidence row numbered `n`.
    static func row(_ n: Int, of finding: CheckReport.Finding) throws -> CheckReport.AttemptEvidence {
        try #require(finding.evidence.first { $0.attempt == n }, "no evidence row \(n) for: \(finding.message)")
    }

    static func finding(_ rule: String, in report: CheckReport) throws -> CheckReport.Finding {
        let finding = try #require(report.findings.first { $0.rule == rule }, "\(report.digest)")
        // Rows are numbered from 0 in log order, like the timeline's attempts.
        #expect(finding.evidence.map(\.attempt) == Array(finding.evidence.indices), "\(finding.evidence)")
        return finding
    }

    /// The one logical request's attempts in order, as the timeline (and its tooltips,
    /// `attempt 0: ...`) number them.
    static func timelineOutcomes(_ report: CheckReport) -> [CheckReport.Outcome] {
        report.timeline.requests.first?.attempts.map(\.outcome) ?? []
    }

    @Test func cr01NamesTheRetryAndTheAmbiguousAttemptByTheirRows() throws {
        let log = RetryRuleTests.requests(1, keyed: false, outcomes: [.respond(), .replyLost(), .answered()], delays: { _, _ in 200 * Self.ms })
        let report = try log.check()
        let finding = try Self.finding("CR-01", in: report)
        #expect(finding.severity == .high)
        let numbers = Self.attemptNumbers(finding)
        #expect(numbers == [2, 1], "\(finding.message)")
        // "after attempt 1 ended ambiguous (rule-drop (drop))": the row numbered 1.
        let before = try Self.row(try #require(numbers.last), of: finding)
        #expect(before.outcome == .ambiguous && before.fault == "rule-drop (drop)", "\(finding.message)")
        #expect(finding.message.contains("after attempt \(before.attempt) ended \(before.outcome.rawValue) (\(before.fault ?? ""))"), "\(finding.message)")
        // "attempt 2 re-sent": the row numbered 2, the answered retry 200 ms later.
        let retry = try Self.row(numbers[0], of: finding)
        #expect(retry.outcome == .answered && retry.gapNs == Int64(200 * Self.ms), "\(finding.message)")
        #expect(try Self.row(0, of: finding).outcome == .answeredByProxy)
        // A count next to the numbers stays a count.
        #expect(finding.message.hasSuffix("(3 attempts in all)"), "\(finding.message)")
        #expect(Self.timelineOutcomes(report) == [.answeredByProxy, .ambiguous, .answered])

        // The text table's row "1" is that attempt too, and the report says how it counts.
        let table = TextReportWriter.evidenceTable(finding.evidence, indent: "")
        let textRow = try #require(table.first { $0.hasPrefix("1 ") }, "\(table)")
        #expect(textRow.contains("ambiguous") && textRow.contains("rule-drop (drop)"), "\(table)")
        #expect(ReportWriter.write(report, as: .text).contains("\n\(ReportText.attemptNumbering)\n"))
        #expect(ReportWriter.write(report, as: .html).contains(ReportText.attemptNumbering))
        #expect(ReportWriter.write(report, as: .junit).contains(ReportText.attemptNumbering))
    }

    @Test func cr03NamesTheAttemptThatChangedItsKey() throws {
        let log = RetryRuleTests.requests(
            1, outcomes: [.respond(), .respond(), .answered()], delays: { _, k in 100 * Self.ms << UInt64(k) },
            keys: { i in ["a-\(i)", "a-\(i)", nil] }
        )
        let finding = try Self.finding("CR-03", in: try log.check())
        let numbers = Self.attemptNumbers(finding)
        #expect(numbers == [2, 1], "\(finding.message)")
        #expect(try Self.row(numbers[0], of: finding).idempotencyKey == nil, "\(finding.message)")
        #expect(try Self.row(try #require(numbers.last), of: finding).idempotencyKey == "a-0", "\(finding.message)")
        #expect(finding.message.contains("attempt 2 with no key after attempt 1 with 'a-0'"), "\(finding.message)")
    }

    @Test func cr12NamesTheFirstAttemptPastTheDeadline() throws {
        let log = RetryRuleTests.requests(1, method: "GET", outcomes: Array(repeating: .respond(), count: 5), delays: { _, _ in 400 * Self.ms })
        let finding = try Self.finding("CR-12", in: try log.check(RetryCheckOptions(deadline: .seconds(1))))
        let numbers = Self.attemptNumbers(finding)
        #expect(numbers == [3, 0], "\(finding.message)")
        let late = try #require(numbers.first)
        let first = try Self.row(try #require(numbers.last), of: finding).startNs
        let limit = Int64(Self.s + 50 * Self.ms)
        #expect(try Self.row(late, of: finding).startNs - first > limit, "\(finding.message)")
        #expect(try Self.row(late - 1, of: finding).startNs - first <= limit, "\(finding.message)")
    }

    @Test func cr13NamesTheReplyWithRetryAfterAndTheEarlyRetry() throws {
        let log = RetryRuleTests.requests(
            1, method: "GET", outcomes: [.respond(), .respond(status: 429, retryAfter: "2"), .answered()], delays: { _, _ in 100 * Self.ms }
        )
        let finding = try Self.finding("CR-13", in: try log.check())
        let numbers = Self.attemptNumbers(finding)
        #expect(numbers == [2, 1], "\(finding.message)")
        #expect(try Self.row(try #require(numbers.last), of: finding).status == 429, "\(finding.message)")
        #expect(try Self.row(numbers[0], of: finding).gapNs == Int64(100 * Self.ms), "\(finding.message)")
        #expect(finding.message.contains("after attempt 1's 429 with Retry-After 2"), "\(finding.message)")
    }

    @Test func cr14NamesTheAttemptThatGotTheStatus() throws {
        let log = RetryRuleTests.requests(
            // The 404 is never outgrown (a success after it would make it a poll's answer).
            1, method: "GET", outcomes: [.respond(), .answered(status: 404), .answered(status: 404)], delays: { _, _ in 100 * Self.ms }
        )
        let finding = try Self.finding("CR-14", in: try log.check())
        let numbers = Self.attemptNumbers(finding)
        #expect(numbers == [1], "\(finding.message)")
        #expect(try Self.row(try #require(numbers.first), of: finding).status == 404, "\(finding.message)")
        #expect(finding.message.contains("attempt 1 got 404"), "\(finding.message)")
    }

    /// The copy is a logical request of its own once the one in flight succeeded: the
    /// finding names the request it overlapped, whose timeline row ends after it began.
    @Test func cr15NamesTheCopyAndTheRequestStillInFlight() throws {
        let report = try RetryRuleTests.hedge(method: "POST").check()
        let finding = try Self.finding("CR-15", in: report)
        #expect(finding.requests == ["R2"] && finding.message.contains("sent while R1, the same request"), "\(finding.message)")
        let rows = report.timeline.requests
        let inFlight = try #require(rows.first { $0.id == "R1" }?.attempts.first), copy = try #require(rows.first { $0.id == "R2" }?.attempts.first)
        #expect((inFlight.endNs ?? 0) > copy.startNs, "\(finding.message)")
    }

    /// The hang holds the request itself (upstream), so the message says the attempt was
    /// held before the server, not that its reply was withheld.
    @Test func cr19NamesTheAttemptThatWasHeld() throws {
        let log = RetryRuleTests.requests(
            1, method: "GET", outcomes: [.respond(), .hang(hold: 90 * Self.s, clientCloses: true), .answered()], delays: { _, _ in 100 * Self.ms }
        )
        let finding = try Self.finding("CR-19", in: try log.check())
        let numbers = Self.attemptNumbers(finding)
        #expect(numbers == [1], "\(finding.message)")
        let held = try Self.row(try #require(numbers.first), of: finding)
        let fault = try #require(held.fault)
        #expect(fault.contains("hang"), "\(finding.message)")
        #expect(finding.message.contains("attempt \(held.attempt) was held before the server (\(fault))"), "\(finding.message)")
    }

    /// Per-index statistics name the attempt a gap comes before: the rows whose gap
    /// column holds those gaps.
    @Test func cr06NamesTheAttemptsItsImmediateGapsComeBefore() throws {
        let log = RetryRuleTests.requests(4, method: "GET", outcomes: [.respond(), .respond(), .answered()], delays: { _, _ in 1 * Self.ms })
        let finding = try #require(try log.check().findings.first { $0.rule == "CR-06" })
        #expect(finding.message.contains("immediate before attempts 1, 2)"), "\(finding.message)")
        let rows = finding.evidence.filter { $0.request == finding.evidence.first?.request }
        #expect(rows.map(\.attempt) == [0, 1, 2])
        #expect(rows[0].gapNs == nil)
        #expect(rows.dropFirst().allSatisfy { ($0.gapNs ?? .max) < Int64(10 * Self.ms) }, "\(rows)")
    }

    @Test func gapIndicesReadAsTheAttemptAfterTheGap() {
        #expect(RetryChecker.beforeAttempts([1]) == "before attempt 1")
        #expect(RetryChecker.beforeAttempts([1, 2]) == "before attempts 1, 2")
        #expect(RetryChecker.beforeAttempts([2, RetryChecker.indexLimit]) == "before attempts 2, 16 or later")
    }
}
