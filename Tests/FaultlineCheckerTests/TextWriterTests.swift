import FaultlineChecker
import Foundation
import Testing

struct TextWriterTests {
    static let text = ReportWriter.write(ReportFixtures.realistic(), as: .text)

    @Test func headerHasCheckInputsSeedAndCounts() {
        let text = Self.text
        #expect(text.hasPrefix("faultline check retries\n"))
        #expect(text.contains("inputs:    run/events.jsonl, run/events-2.jsonl"))
        #expect(text.contains("seed:      42"))
        #expect(text.contains("read:      1742 events, 61 connections, 16 injected faults"))
        #expect(text.contains("in 50 logical requests (9 retried) from 2 clients"))
        #expect(text.contains("findings:  1 HIGH, 3 MED, 1 INFO"))
    }

    @Test func findingsAreGroupedByRuleMostSevereFirst() throws {
        let text = Self.text
        let cr01 = try #require(text.range(of: "-- CR-01 NONIDEMPOTENT_RETRY_NO_KEY: 1 finding --"))
        let cr06 = try #require(text.range(of: "-- CR-06 NO_BACKOFF: 1 finding --"))
        let cr08 = try #require(text.range(of: "-- CR-08 NO_JITTER: 2 findings --"))
        let cr22 = try #require(text.range(of: "-- CR-22 DUPLICATE_SUBMISSION: 1 finding --"))
        #expect(cr01.lowerBound < cr06.lowerBound)
        #expect(cr06.lowerBound < cr08.lowerBound)
        #expect(cr08.lowerBound < cr22.lowerBound)
        #expect(text.contains("HIGH CR-01 NONIDEMPOTENT_RETRY_NO_KEY — POST /charges (10.0.0.5)"))
        #expect(text.contains("MED CR-08 NO_JITTER — GET /balance (10.0.0.7)"))
        #expect(text.contains("  Fix: Send one Idempotency-Key header"))
    }

    @Test func evidenceIsAnAlignedTable() {
        let lines = Self.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let header = lines.firstIndex(of: "    attempt  start   outcome    status  fault                    gap") else {
            Issue.record("no evidence header in:\n\(Self.text)")
            return
        }
        #expect(lines[header + 1] == "    0        1.204s  ambiguous  -       cut-reply (sever reply)  -")
        #expect(lines[header + 2] == "    1        2.054s  ambiguous  -       cut-reply (sever reply)  250ms")
        #expect(lines[header + 3] == "    2        3.154s  answered   201     -                        500ms")
    }

    @Test func evidenceOverSeveralRequestsNamesThem() {
        #expect(Self.text.contains("    request  attempt  start   outcome   status  fault                 gap"))
    }

    @Test func clientSectionSaysWhatTheClientDoes() {
        let text = Self.text
        #expect(text.contains("== What your client really does =="))
        #expect(text.contains("10.0.0.5: 34 logical requests, 5 retried"))
        // Where the delays levelled off is what the log shows, not the client's setting
        // (a trial's client capped at 2 s read "cap 371ms"): said as seen.
        #expect(text.contains("  backoff   exponential: initial 250ms, growth x2.00, flat at ~2s over the last attempts seen (not necessarily the client's cap)"))
        #expect(!text.contains(", cap "))
        #expect(text.contains("  jitter    none (CV 0.02)"))
        #expect(text.contains("  attempts  max 3, mean 2.5"))
        #expect(text.contains("  deadline  2s"))
        #expect(text.contains("  timeout   600ms"))
        // A linear schedule's figure is the exponential fit's, which the line beat.
        var linear = CheckReport.ClientBehaviour(client: "10.0.0.6")
        (linear.backoff, linear.initialDelayNs, linear.growth) = ("linear", 88_000_000, 1.67)
        #expect(TextReportWriter.backoff(linear) == "linear: initial 88ms, x1.67 over the first attempts, a straight line fits better")
        #expect(text.contains("  samples   21 gaps"))
        #expect(text.contains("  backoff   immediate: initial 3ms"))
        #expect(text.contains("  timeout   none seen"))
        #expect(text.contains("  note      no reply was ever late"))
    }

    @Test func everyRuleHasAStatusLine() {
        let text = Self.text
        #expect(text.contains("CR-01  NONIDEMPOTENT_RETRY_NO_KEY    HIGH  POST /charges  failed: 2 retries after ambiguous outcomes"))
        #expect(text.contains("passed: 2 retries, none after an ambiguous outcome"))
        #expect(text.contains("CR-03  KEY_CHANGED_BETWEEN_ATTEMPTS  HIGH  all"))
        #expect(text.contains("not applicable: no attempt carried an idempotency key"))
        #expect(text.contains("not enough evidence: 2 requests with 3 or more retries (needs 10)"))
        #expect(text.contains("IGNORES_RETRY_AFTER           MED   all            off (turned off by --rules)"))
    }

    @Test func notesThenVerdictLast() {
        let text = Self.text
        #expect(text.contains("== Notes ==\n- --rules excluded CR-13\n- CR-10 limit raised"))
        #expect(text.hasSuffix("\n4 violations (1 HIGH, 3 MED), 1 INFO observation\n"))
        #expect(!text.contains("\u{1B}"))
    }

    @Test func noFindingsSaysNoViolations() {
        var report = ReportFixtures.realistic()
        report.findings = report.findings.filter { $0.severity == .info }
        #expect(ReportWriter.write(report, as: .text).hasSuffix("\nno violations, 1 INFO observation\n"))
        report.findings = []
        let text = ReportWriter.write(report, as: .text)
        #expect(text.hasSuffix("\nno violations\n"))
        #expect(text.contains("== Findings ==\n\nnone\n"))
    }

    @Test func trafficTextCannotDriveTheTerminal() {
        let text = ReportWriter.write(ReportFixtures.hostile(), as: .text)
        #expect(!text.contains("\u{1B}"))
        #expect(!text.contains("\u{0}"))
        #expect(!text.contains("\u{7}"))
        #expect(text.contains("POST /x<script>alert('x')</script>&\"[31m"))
    }

    @Test func idempotencyReportShowsOperationsAndExchanges() {
        let text = ReportWriter.write(ReportFixtures.idempotency(), as: .text)
        #expect(text.hasPrefix("faultline check idempotency\n"))
        // Replay's own counts, none of the retry check's.
        #expect(text.contains("""
            read:        40 events, 4 operations recorded
            operations:  3 (1 idempotent, 0 deduplicated by key, 1 at-least-once, 1 inconclusive)
            sent:        12 replayed requests, 9 probe reads
            replies:     18 received, 2 dropped on purpose (SR-05), 1 unanswered
            findings:    1 CRIT
            """))
        for retryWords in ["retried", "logical request", "client", "injected fault", "attempt"] {
            #expect(!text.prefix(while: { $0 != "=" }).contains(retryWords), "the header says '\(retryWords)'")
        }
        #expect(text.contains("CRIT SR-01 DUP_CHANGES_STATE — POST /accounts/{id}/deposits"))
        #expect(text.contains("    step                sent                                reply"))
        #expect(text.contains("    SR-01 #2            POST /accounts/1/deposits HTTP/1.1  201 {\"id\":8}"))
        #expect(text.contains("    SR-01 #3            POST /accounts/1/deposits HTTP/1.1  no reply within 5s"))
        #expect(text.contains("== Operations ==\n  POST /accounts/{id}/deposits  at_least_once  keyed   probed        SR-01  each duplicate added 10 to the balance (run/events.jsonl:12)"))
        #expect(text.contains("  DELETE /sessions/<x>          inconclusive   no key  replies only  -      no probe"))
        #expect(!text.contains("== What your client really does =="))
        #expect(text.hasSuffix("\n1 violation (1 CRIT)\n"))
    }

    static let durations: [(Int64, String)] = [
        (0, "0ms"), (420_000, "420us"), (850_000_000, "850ms"), (999_000_000, "999ms"),
        (999_600_000, "1s"), (1_000_000_000, "1s"), (1_200_000_000, "1.2s"), (12_340_000_000, "12.3s"),
        (59_960_000_000, "1m00s"), (123_000_000_000, "2m03s"), (3_720_000_000_000, "1h02m"), (-850_000_000, "-850ms"),
    ]

    @Test(arguments: durations)
    func durationsAreHumanFriendly(nanoseconds: Int64, expected: String) {
        var report = ReportFixtures.realistic()
        report.clients[0].deadlineNs = nanoseconds
        #expect(ReportWriter.write(report, as: .text).contains("  deadline  \(expected)\n"))
    }
}
