import FaultlineCore
import Testing

@testable import FaultlineChecker

/// Every rule `check retries` implements: one log that breaks it (flagged, with the
/// right id and evidence) and one that does not.
struct RetryRuleTests {
    typealias Log = SyntheticLog
    static let ms = SyntheticLog.ms
    static let s = SyntheticLog.s

    /// `count` logical requests, each its own fingerprint (and key when `keyed`),
    /// started 30 s apart so they never overlap.
    static func requests(
        _ count: Int, method: String = "POST", path: String = "/charges", keyed: Bool = true, client: String = "10.0.0.1",
        outcomes: [Log.Outcome], delays: @escaping (Int, Int) -> UInt64, framing: String = "http", keys: ((Int) -> [String?])? = nil
    ) -> Log {
        var log = Log(framing: framing)
        for i in 0..<count {
            let request = Log.Request(method: method, path: "\(path)/\(i)", key: keyed ? "key-\(i)" : nil, fingerprint: "fp-\(i)", client: client)
            log.logical(request, at: 1_000 * Self.s + UInt64(i) * 30 * Self.s, outcomes: outcomes, delays: { delays(i, $0) }, keys: keys?(i))
        }
        return log
    }

    // MARK: CR-01

    @Test func aPostRetriedWithoutAKeyAfterALostReplyIsCR01() throws {
        let log = Self.requests(1, keyed: false, outcomes: [.replyLost(), .answered()], delays: { _, _ in 200 * Self.ms })
        let report = try log.check()
        #expect(report.ruleIDs == ["CR-01"], "\(report.digest)")
        let finding = try #require(report.findings.first)
        #expect(finding.severity == .high)
        #expect(finding.operation == "POST /charges/{id}")
        #expect(finding.evidence.count == 2)
        #expect(finding.evidence[0].outcome == .ambiguous && finding.evidence[0].fault == "rule-drop (drop)")
        #expect(finding.evidence[1].gapNs == Int64(200 * Self.ms))
        #expect(report.status("CR-01") == .failed)
        #expect(report.hasViolations)
    }

    @Test func theSameRetryWithAKeyIsNotCR01() throws {
        let report = try Self.requests(1, keyed: true, outcomes: [.replyLost(), .answered()], delays: { _, _ in 200 * Self.ms }).check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-01") == .passed)
    }

    @Test func aMoneyOperationMakesCR01Critical() throws {
        let settings = try RuleSettings.parse("faultline_rules: 1\noperations:\n  \"POST /charges*\": money\n", file: "rules.yaml")
        let report = try Self.requests(1, keyed: false, outcomes: [.reset(), .answered()], delays: { _, _ in 200 * Self.ms })
            .check(RetryCheckOptions(settings: settings))
        #expect(report.findings.map(\.severity) == [.critical], "\(report.digest)")
    }

    @Test func aRetryAfterANotAppliedAttemptIsOnlyInfo() throws {
        let report = try Self.requests(1, keyed: false, outcomes: [.requestLost(), .answered()], delays: { _, _ in 200 * Self.ms }).check()
        #expect(report.findings.map(\.severity) == [.info], "\(report.digest)")
        #expect(!report.hasViolations)
        // An INFO finding is reported, never failing, and never "passed".
        #expect(report.status("CR-01") == .noted)
        #expect(report.rule("CR-01")?.severity == .info)
    }

    @Test func anIdempotentGetRetriedWithoutAKeyIsFine() throws {
        let report = try Self.requests(1, method: "GET", keyed: false, outcomes: [.replyLost(), .answered()], delays: { _, _ in 200 * Self.ms }).check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-01") == .notApplicable)
    }

    @Test func lineFramingCountsEveryMessageAsNonIdempotent() throws {
        let log = Self.requests(1, keyed: false, outcomes: [.replyLost(), .answered()], delays: { _, _ in 200 * Self.ms }, framing: "line")
        let report = try log.check()
        #expect(report.ruleIDs == ["CR-01"], "\(report.digest)")
        #expect(report.notes.contains { $0.hasPrefix("line framing: every message treated as non-idempotent") })
        let tagged = try RuleSettings.parse("faultline_rules: 1\noperations:\n  message: idempotent\n", file: "r.yaml")
        #expect(try log.check(RetryCheckOptions(settings: tagged)).findings.isEmpty)
    }

    // MARK: CR-03, CR-04

    /// A new key on the same payload after a failure: on the wire, a client that
    /// changes its key on every retry and a careful client that gave up and sends its
    /// next operation (same payload, its own key) look the same. Each key is its own
    /// logical request, and CR-03 notes the change as INFO, unless the rules raise it.
    @Test func aKeyRotatedAfterAFailureIsCR03AsInfo() throws {
        let log = Self.requests(
            1, outcomes: [.respond(), .respond(), .answered()], delays: { _, k in 100 * Self.ms << UInt64(k) },
            keys: { i in ["a-\(i)", "b-\(i)", "c-\(i)"] }
        )
        let report = try log.check()
        #expect(report.ruleIDs == ["CR-03"], "\(report.digest)")
        #expect(report.findings.map(\.severity) == [.info, .info], "\(report.digest)")
        #expect(report.findings.map(\.requests) == [["R2"], ["R3"]])
        #expect(report.findings[0].message.contains("sent with key 'b-0' right after R1, the same request from the same client with key 'a-0', ended answered_by_proxy"), "\(report.findings[0].message)")
        #expect(!report.hasViolations)
        #expect(report.summary.logicalRequests == 3)
        let strict = try RuleSettings.parse("faultline_rules: 1\nrules:\n  CR-03: {severity: HIGH}\n", file: "rules.yaml")
        let raised = try log.check(RetryCheckOptions(settings: strict))
        #expect(raised.findings.map(\.severity) == [.high, .high], "\(raised.digest)")
        #expect(!raised.findings[0].message.contains("INFO unless"))
    }

    /// The trial that found the above: a careful client sends four deposits with the
    /// same body, each with its own key, gives up on each after its timeout (the reply
    /// was lost) and never retries. Nothing it did is a violation; joined, the four
    /// would have been one request with a key changed three times (HIGH) and, with more
    /// of them, too many attempts.
    @Test func identicalOperationsEachWithItsOwnKeyAreNotOneRequest() throws {
        var log = Log()
        var time = 1_000 * Self.s
        for operation in 0..<6 {
            time = log.attempt(Log.Request(key: "op-\(operation)"), at: time + 10 * Self.ms, .replyLost(timeout: Self.s))
        }
        let report = try log.check()
        #expect(!report.hasViolations, "\(report.digest)")
        #expect(report.summary.logicalRequests == 6 && report.summary.retried == 0, "\(report.digest)")
        #expect(Set(report.findings.map(\.severity)) == [.info], "\(report.digest)")
    }

    /// A key that goes away on a retry of the same request stays one logical request:
    /// a client that keys its requests and drops the key when it retries is CR-03 HIGH.
    @Test func aKeyDroppedOnTheRetryIsCR03() throws {
        let log = Self.requests(
            1, outcomes: [.respond(), .answered()], delays: { _, k in 100 * Self.ms << UInt64(k) },
            keys: { i in ["a-\(i)", nil] }
        )
        let report = try log.check()
        #expect(report.ruleIDs.contains("CR-03"), "\(report.digest)")
        #expect(report.findings.first { $0.rule == "CR-03" }?.severity == .high)
        #expect(report.summary.logicalRequests == 1)
    }

    @Test func theSameKeyOnEveryAttemptIsNotCR03() throws {
        let report = try Self.requests(1, outcomes: [.respond(), .respond(), .answered()], delays: { _, k in 100 * Self.ms << UInt64(k) }).check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-03") == .passed)
    }

    @Test func aKeyReusedForAnotherPayloadIsCR04() throws {
        var log = Log()
        let first = log.attempt(Log.Request(key: "k-1", fingerprint: "fp-a"), at: 1_000 * Self.s, .answered())
        log.attempt(Log.Request(key: "k-1", fingerprint: "fp-b"), at: first + 50 * Self.ms, .answered())
        let report = try log.check()
        #expect(report.ruleIDs == ["CR-04"], "\(report.digest)")
        #expect(report.findings[0].severity == .medium)
        #expect(report.summary.logicalRequests == 2)
    }

    @Test func freshKeysForFreshPayloadsAreNotCR04() throws {
        var log = Log()
        let first = log.attempt(Log.Request(key: "k-1", fingerprint: "fp-a"), at: 1_000 * Self.s, .answered())
        log.attempt(Log.Request(key: "k-2", fingerprint: "fp-b"), at: first + 50 * Self.ms, .answered())
        let report = try log.check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-04") == .passed)
    }

    // MARK: CR-06

    @Test func immediateRetriesAreCR06() throws {
        let report = try Self.requests(4, method: "GET", outcomes: [.respond(), .respond(), .answered()], delays: { _, _ in 1 * Self.ms }).check()
        #expect(report.ruleIDs == ["CR-06"], "\(report.digest)")
        #expect(report.findings[0].message.contains("8 of 8 retries"), "\(report.digest)")
        #expect(report.clients.first?.backoff == "immediate")
    }

    @Test func retriesAfterABackoffAreNotCR06() throws {
        let report = try Self.requests(4, method: "GET", outcomes: [.respond(), .respond(), .answered()], delays: { _, k in 100 * Self.ms << UInt64(k) })
            .check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-06") == .passed)
    }

    /// urllib3: the first retry at once, then backoff_factor·2^k: a single immediate
    /// first retry is urllib3's design, not NO_BACKOFF.
    @Test func urllib3sSingleImmediateFirstRetryIsNotCR06() throws {
        let delays: [UInt64] = [0, 0, 400 * Self.ms, 800 * Self.ms]
        let report = try Self.requests(
            25, method: "GET", outcomes: [.respond(), .respond(), .respond(), .answered()],
            delays: { i, k in delays[k] + UInt64(i % 3) * 100_000 }
        ).check()
        #expect(!report.ruleIDs.contains("CR-06"), "\(report.digest)")
        #expect(report.status("CR-06") == .passed)
        let client = try #require(report.clients.first)
        #expect(client.backoff == "exponential", "\(report.digest)")
        #expect(client.note?.contains("first retry immediate") == true, "\(report.digest)")
    }

    /// urllib3 waits out its backoff before it closes the connection that timed out, so
    /// each close is late by the backoff and the next attempt follows it at once. The
    /// shortest hold (its timeout) is taken as when it gave up: no CR-06 or CR-07. A
    /// client that really retries at once closes every attempt after the same timeout,
    /// and is still CR-06.
    @Test func aClientThatClosesAfterItsBackoffIsNotCR06() throws {
        var log = Log()
        for i in 0..<25 {
            // Backoff 0, then about 160 and 320 ms with ±25 % jitter, slept before the close.
            let jitter = { (k: UInt64) in k * Self.ms * UInt64(75 + (i * 37 + Int(k)) % 50) / 100 }
            let holds = [0, jitter(160), jitter(320)].map { Log.Outcome.replyLost(timeout: 200 * Self.ms + $0) }
            let request = Log.Request(method: "GET", path: "/charges/\(i)", key: "key-\(i)", fingerprint: "fp-\(i)", client: "10.0.0.1")
            log.logical(request, at: 1_000 * Self.s + UInt64(i) * 30 * Self.s, outcomes: holds + [.answered()], delays: { _ in 1 * Self.ms })
        }
        let careful = try log.check()
        #expect(careful.findings.isEmpty, "\(careful.digest)")
        #expect(careful.clients.first?.timeoutNs.map { abs($0 - Int64(200 * Self.ms)) < Int64(10 * Self.ms) } == true, "\(careful.clients)")
        let naive = try Self.requests(
            25, method: "GET", outcomes: [.replyLost(timeout: 200 * Self.ms), .replyLost(timeout: 200 * Self.ms), .replyLost(timeout: 200 * Self.ms), .answered()],
            delays: { i, _ in 1 * Self.ms + UInt64(i % 3) * 100_000 }
        ).check()
        #expect(naive.ruleIDs.contains("CR-06"), "\(naive.digest)")
    }

    // MARK: CR-07

    @Test func aConstantBackoffIsCR07() throws {
        let report = try Self.requests(
            12, method: "GET", outcomes: [.respond(), .respond(), .respond(), .answered()], delays: { i, _ in 50 * Self.ms + UInt64(i) * 200_000 }
        ).check()
        #expect(report.ruleIDs == ["CR-07"], "\(report.digest)")
        #expect(report.findings[0].severity == .medium, "first delay under 100 ms: MED")
        #expect(report.clients.first?.backoff == "constant")
    }

    @Test func aDoublingBackoffIsNotCR07() throws {
        var random = TestRandom(seed: 7)
        let report = try Self.requests(
            12, method: "GET", outcomes: [.respond(), .respond(), .respond(), .answered()],
            delays: { _, k in UInt64(random.unit() * Double(100 * Self.ms << UInt64(k))) + Self.ms * 20 }
        ).check()
        #expect(!report.ruleIDs.contains("CR-07"), "\(report.digest)")
        #expect(report.status("CR-07") == .passed, "\(report.digest)")
    }

    /// stamina's defaults: 0.1 s doubling with up to 1 s of jitter added on top. The
    /// longest delays grow about ×1.2 (jitter flattens them); the shortest still double.
    @Test func aDoublingBackoffUnderAddedJitterIsNotCR07() throws {
        var random = TestRandom(seed: 11)
        let report = try Self.requests(
            14, method: "GET", outcomes: [.respond(), .respond(), .respond(), .answered()],
            delays: { _, k in (100 * Self.ms << UInt64(k - 1)) + UInt64(random.unit() * 1_000) * Self.ms }
        ).check()
        #expect(!report.ruleIDs.contains("CR-07"), "\(report.digest)")
        #expect(report.clients.first?.backoff == "exponential", "\(report.clients)")
        #expect(report.clients.first?.note?.contains("growth read on the shortest delays") == true, "\(report.clients)")
    }

    /// A constant delay with jitter added on top grows on neither edge: still CR-07.
    @Test func aConstantBackoffUnderAddedJitterIsCR07() throws {
        var random = TestRandom(seed: 11)
        let report = try Self.requests(
            14, method: "GET", outcomes: [.respond(), .respond(), .respond(), .answered()],
            delays: { _, _ in 200 * Self.ms + UInt64(random.unit() * 100) * Self.ms }
        ).check()
        #expect(report.ruleIDs.contains("CR-07"), "\(report.digest)")
    }

    @Test func tooFewLongRequestsAreNotEnoughEvidenceForCR07() throws {
        let report = try Self.requests(5, method: "GET", outcomes: [.respond(), .respond(), .respond(), .answered()], delays: { _, _ in 50 * Self.ms })
            .check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-07") == .notEnoughEvidence)
        #expect(report.rule("CR-07")?.evidence.contains("(needs 10)") == true, "\(report.digest)")
    }

    // MARK: CR-08 (curl-like: 1, 2, 4 s, no jitter)

    static func curl(_ count: Int) -> Log {
        var random = TestRandom(seed: 3)
        return Self.requests(
            count, method: "GET", path: "/many", keyed: false, outcomes: [.respond(), .respond(), .respond(), .answered()],
            delays: { _, k in (Self.s << UInt64(k - 1)) + UInt64(random.unit() * 2e6) }
        )
    }

    @Test func curlWithTwentyTwoRequestsIsCR08() throws {
        let report = try Self.curl(22).check()
        #expect(report.ruleIDs == ["CR-08"], "\(report.digest)")
        #expect(report.status("CR-08") == .failed)
        let client = try #require(report.clients.first)
        #expect(client.jitter == "none" && client.backoff == "exponential", "\(report.digest)")
        #expect(abs((client.growth ?? 0) - 2) < 0.1)
        #expect(report.findings[0].message.contains("over 22 gaps"), "\(report.digest)")
        #expect(client.timeoutNs == nil, "curl never gave up on a reply: closing after a 503 is no time-out")
    }

    /// A busy client wakes up late now and then (tens of milliseconds): a deterministic
    /// schedule stays deterministic.
    @Test func lateWakeUpsDoNotHideADeterministicSchedule() throws {
        var random = TestRandom(seed: 8)
        let report = try Self.requests(
            22, method: "GET", outcomes: [.respond(), .respond(), .respond(), .answered()],
            delays: { i, k in (200 * Self.ms << UInt64(k - 1)) + UInt64(random.unit() * 6e6) + (i % 5 == 0 ? 40 * Self.ms : 0) }
        ).check()
        #expect(report.ruleIDs == ["CR-08"], "\(report.digest)")
        #expect(report.clients.first?.jitter == "none", "\(report.digest)")
    }

    /// Full jitter over a doubling (U(0, 40 ms · 2^k)) with three retries in 12
    /// requests: three noisy points fit a straight line as well as a doubling, so the
    /// shape must not make it CR-07 (a run of the CLI tests once did). 50 seeds.
    @Test func fullJitterOverADoublingIsNeverCR07() throws {
        for seed in 1...50 as ClosedRange<UInt64> {
            var random = TestRandom(seed: seed)
            let report = try Self.requests(
                12, method: "GET", outcomes: [.respond(), .respond(), .respond(), .answered()],
                delays: { _, k in UInt64(random.unit() * Double(40 * Self.ms << UInt64(k))) + Self.ms }
            ).check()
            #expect(!report.ruleIDs.contains("CR-07"), "seed \(seed): \(report.digest)")
        }
    }

    @Test func oneTwoThreeSecondsIsLinear() throws {
        let report = try Self.requests(
            12, method: "GET", outcomes: [.respond(), .respond(), .respond(), .answered()], delays: { i, k in UInt64(k) * Self.s + UInt64(i) * Self.ms }
        ).check()
        #expect(report.clients.first?.backoff == "linear", "\(report.digest)")
        #expect(report.ruleIDs == ["CR-07"], "a linear schedule does not grow exponentially: \(report.digest)")
    }

    @Test func curlWithFiveRequestsIsNotEnoughEvidenceForCR08() throws {
        let report = try Self.curl(5).check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-08") == .notEnoughEvidence)
        #expect(report.rule("CR-08")?.evidence.hasPrefix("5 gaps before attempt 1 (the most before any one attempt; needs 20)") == true, "\(report.digest)")
    }

    @Test func fullJitterIsNotCR08() throws {
        var random = TestRandom(seed: 11)
        let report = try Self.requests(
            22, method: "GET", outcomes: [.respond(), .respond(), .respond(), .answered()],
            delays: { _, k in UInt64(random.unit() * Double(200 * Self.ms << UInt64(k))) }
        ).check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-08") == .passed)
        #expect(report.clients.first?.jitter == "full", "\(report.digest)")
    }

    // MARK: CR-09

    @Test func aDelayOverFiveMinutesIsCR09() throws {
        let options = RetryCheckOptions(window: .seconds(1200))
        var log = Log()
        log.logical(Log.Request(method: "GET"), at: 1_000 * Self.s, outcomes: [.respond(), .answered()], delays: { _ in 400 * Self.s })
        let report = try log.check(options)
        // Retrying for 400 s with no deadline is also a (LOW) CR-12.
        #expect(report.ruleIDs == ["CR-09", "CR-12"], "\(report.digest)")
        #expect(report.findings.first { $0.rule == "CR-09" }?.message.contains("400 s") == true, "\(report.digest)")
    }

    @Test func aDelayUnderTheCapIsNotCR09() throws {
        var log = Log()
        log.logical(Log.Request(method: "GET"), at: 1_000 * Self.s, outcomes: [.respond(), .answered()], delays: { _ in 20 * Self.s })
        let report = try log.check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-09") == .passed)
        #expect(report.rule("CR-09")?.evidence.contains("raise --window") == true)
    }

    // MARK: CR-10

    @Test func eightAttemptsAreCR10() throws {
        let report = try Self.requests(
            2, method: "GET", outcomes: Array(repeating: .respond(), count: 8), delays: { _, k in 50 * Self.ms << UInt64(k) }
        ).check()
        #expect(report.ruleIDs == ["CR-10"], "\(report.digest)")
        #expect(report.findings.count == 2)
        #expect(report.findings[0].message.contains("8 attempts (more than 5)"))
    }

    @Test func fourAttemptsAreNotCR10UnlessTheRulesSayThree() throws {
        let log = Self.requests(1, method: "GET", outcomes: Array(repeating: .respond(), count: 4), delays: { _, k in 50 * Self.ms << UInt64(k) })
        #expect(try log.check().findings.isEmpty)
        let strict = try RuleSettings.parse("faultline_rules: 1\nrules:\n  CR-10: {max_attempts: 3, severity: HIGH}\n", file: "rules.yaml")
        let report = try log.check(RetryCheckOptions(settings: strict))
        #expect(report.ruleIDs == ["CR-10"], "\(report.digest)")
        #expect(report.findings[0].severity == .high)
        #expect(report.notes.contains("CR-10 max_attempts set to 3 by rules.yaml"), "\(report.notes)")
        #expect(report.notes.contains("CR-10 severity set to HIGH by rules.yaml (default MED)"), "\(report.notes)")
    }

    // MARK: CR-12

    @Test func attemptsPastTheDeadlineAreCR12() throws {
        let log = Self.requests(1, method: "GET", outcomes: Array(repeating: .respond(), count: 5), delays: { _, _ in 400 * Self.ms })
        let report = try log.check(RetryCheckOptions(deadline: .seconds(1)))
        #expect(report.ruleIDs == ["CR-12"], "\(report.digest)")
        // Attempts count from 0: the fourth attempt, 1.2 s in, is attempt 3.
        #expect(report.findings[0].message.contains("attempt 3 started"), "\(report.digest)")
    }

    @Test func attemptsWithinTheDeadlineAreNotCR12() throws {
        let log = Self.requests(1, method: "GET", outcomes: Array(repeating: .respond(), count: 3), delays: { _, _ in 400 * Self.ms })
        let report = try log.check(RetryCheckOptions(deadline: .seconds(1)))
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-12") == .passed)
    }

    @Test func retryingForOverAMinuteWithoutADeadlineIsALowCR12() throws {
        var log = Log()
        log.logical(Log.Request(method: "GET"), at: 1_000 * Self.s, outcomes: Array(repeating: .respond(), count: 4), delays: { _ in 25 * Self.s })
        let report = try log.check()
        #expect(report.ruleIDs == ["CR-12"], "\(report.digest)")
        #expect(report.findings[0].severity == .low)
    }

    // MARK: CR-13

    @Test func comingBackBeforeRetryAfterIsCR13() throws {
        let log = Self.requests(1, method: "GET", outcomes: [.respond(status: 503, retryAfter: "1"), .answered()], delays: { _, _ in 100 * Self.ms })
        let report = try log.check()
        #expect(report.ruleIDs == ["CR-13"], "\(report.digest)")
        #expect(report.findings[0].severity == .medium)
        let on429 = try Self.requests(1, method: "GET", outcomes: [.answered(status: 429, retryAfter: "2"), .answered()], delays: { _, _ in Self.s })
            .check()
        #expect(on429.findings.map(\.severity) == [.high], "\(on429.digest)")
    }

    /// urllib3 with `respect_retry_after_header`: every wait is the server's 1 s, the
    /// same each time. The server chose them, so they are not the client's backoff:
    /// neither "no jitter" (CR-08) nor "not growing" (CR-07), which a client could not
    /// avoid while honouring Retry-After as CR-13 asks.
    @Test func waitsARetryAfterDictatedAreNotTheClientsBackoff() throws {
        let log = Self.requests(
            25, method: "GET", outcomes: [.respond(status: 503, retryAfter: "1"), .respond(status: 503, retryAfter: "1"), .respond(status: 503, retryAfter: "1"), .answered()],
            delays: { _, _ in Self.s }
        )
        let report = try log.check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-13") == .passed)
        #expect(report.status("CR-08") != .passed && report.status("CR-08") != .failed, "\(report.digest)")
        // Said where the rule had nothing else to judge: not "could not be measured" alone.
        #expect(report.rule("CR-06")?.evidence.contains("75 waits after a Retry-After the client received were the server's, left out") == true, "\(report.rule("CR-06")?.evidence ?? "")")
    }

    /// A reply whose Retry-After a fault kept from the client asked it for nothing.
    @Test func aRetryAfterTheClientNeverSawIsNotCR13() throws {
        var log = Log()
        var request = Log.Request(method: "GET", key: nil)
        request.fingerprint = "fp-get"
        let end = log.attempt(request, at: 1_000 * Self.s, .replyLost(timeout: Self.s))
        log.attempt(request, at: end + 100 * Self.ms, .answered())
        let report = try log.check()
        #expect(report.status("CR-13") == .notApplicable, "\(report.digest)")
    }

    /// redis-py wraps a pipeline in MULTI … EXEC by default: five transactions of SET and
    /// GET on a clean network are nothing to report (MULTI and EXEC were unknown
    /// commands, so not idempotent: every later transaction was a "duplicate").
    @Test func transactionsOfIdempotentCommandsAreNothingToReport() throws {
        var log = Log(framing: "resp")
        var time = 1_000 * Self.s
        for _ in 0..<5 {
            for command in ["MULTI", "SET", "GET", "EXEC"] {
                var request = Log.Request(key: nil)
                request.command = command
                request.fingerprint = "fp-\(command)"
                time = log.attempt(request, at: time + Self.ms, .answered())
            }
        }
        let report = try log.check()
        #expect(report.findings.isEmpty, "\(report.digest)")
    }

    @Test func waitingOutRetryAfterIsNotCR13() throws {
        let log = Self.requests(1, method: "GET", outcomes: [.respond(status: 503, retryAfter: "1"), .answered()], delays: { _, _ in 990 * Self.ms })
        let report = try log.check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-13") == .passed)
    }

    @Test func anHTTPDateRetryAfterIsReadFromTheReplysTime() throws {
        #expect(RetryAfter.nanoseconds("Sun, 06 Dec 2026 07:00:05 GMT", replyTime: "2026-12-06T07:00:00.000Z") == 5e9)
        #expect(RetryAfter.nanoseconds("120", replyTime: nil) == 120e9)
        #expect(RetryAfter.nanoseconds("soon", replyTime: nil) == nil)
    }

    // MARK: CR-14

    @Test func retryingA404IsCR14() throws {
        let report = try Self.requests(2, method: "GET", outcomes: [.respond(status: 404), .respond(status: 404)], delays: { _, _ in 100 * Self.ms })
            .check()
        #expect(report.ruleIDs == ["CR-14"], "\(report.digest)")
        #expect(report.findings.count == 2)
        #expect(report.timeline.requests[0].findings == ["CR-14"])
    }

    @Test func notRetryingA404IsNotCR14() throws {
        let report = try Self.requests(2, method: "GET", outcomes: [.respond(status: 404)], delays: { _, _ in 0 }).check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-14") == .passed)
    }

    // MARK: CR-15

    static func hedge(method: String) -> Log {
        var log = Log()
        let request = Log.Request(method: method, path: "/slow/1", key: nil, fingerprint: "fp-slow")
        log.attempt(request, at: 1_000 * Self.s, .answered(latency: 400 * Self.ms))
        log.attempt(request, at: 1_000 * Self.s + 100 * Self.ms, .answered(latency: 400 * Self.ms))
        return log
    }

    /// A hedge and two threads sending the same POST at once look the same: each is a
    /// logical request once the first succeeded, and CR-15 is INFO unless the rules
    /// raise it.
    @Test func aSecondCopyOfAnUnkeyedPostInFlightIsCR15() throws {
        let report = try Self.hedge(method: "POST").check()
        #expect(report.ruleIDs == ["CR-15"], "\(report.digest)")
        #expect(report.findings[0].message.contains("still in flight"))
        #expect(report.findings.map(\.severity) == [.info] && !report.hasViolations, "\(report.digest)")
        #expect(report.summary.logicalRequests == 2 && report.summary.retried == 0, "\(report.digest)")
        let strict = try RuleSettings.parse("faultline_rules: 1\nrules:\n  CR-15: {severity: HIGH}\n", file: "rules.yaml")
        #expect(try Self.hedge(method: "POST").check(RetryCheckOptions(settings: strict)).findings.map(\.severity) == [.high])
    }

    /// Eight pollers on one host send the same GET every 50 ms, each waiting 200 ms for
    /// its reply, with no fault: every request overlaps others and every one succeeds.
    /// None is a retry (a trial saw "8 attempts (more than 5)", CR-10, fail the build).
    @Test func overlappingPollsThatAllSucceedAreNotRetries() throws {
        var log = Log()
        let request = Log.Request(method: "GET", path: "/slow", key: nil, fingerprint: "fp-poll")
        for poll in 0..<40 {
            log.attempt(request, at: 1_000 * Self.s + UInt64(poll) * 25 * Self.ms, .answered(latency: 200 * Self.ms))
        }
        let report = try log.check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.summary.logicalRequests == 40 && report.summary.retried == 0, "\(report.digest)")
    }

    /// redis-py sends HELLO (and PING on idle checks) on every new connection; a client
    /// reconnecting through a partition sends the same bytes many times. They are not
    /// its operations, so they are never one request retried.
    @Test func connectionHandshakesAreNotAttempts() throws {
        var log = Log(framing: "resp")
        var time = 1_000 * Self.s
        for _ in 0..<12 {
            for command in ["HELLO", "PING"] {
                var request = Log.Request(key: nil)
                request.command = command
                request.fingerprint = "fp-\(command)"
                time = log.attempt(request, at: time + Self.ms, .replyLost(timeout: 500 * Self.ms))
            }
        }
        let report = try log.check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.summary.attempts == 0, "\(report.digest)")
    }

    @Test func hedgingAGetIsNotCR15() throws {
        let report = try Self.hedge(method: "GET").check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-15") == .notApplicable)
    }

    // MARK: CR-17

    @Test func tenImmediateAttemptsPerRequestAreARetryStorm() throws {
        let report = try Self.requests(4, method: "GET", outcomes: Array(repeating: .respond(), count: 10), delays: { _, _ in Self.ms }).check()
        #expect(report.ruleIDs == ["CR-06", "CR-10", "CR-17"], "\(report.digest)")
        let storm = try #require(report.findings.first { $0.rule == "CR-17" })
        #expect(storm.severity == .high)
        #expect(storm.message.contains("A = 10.00"))
    }

    /// A fault on every first attempt: a careful client retries once (A = 2).
    @Test func oneRetryPerFaultIsNotAStorm() throws {
        var random = TestRandom(seed: 5)
        let report = try Self.requests(20, outcomes: [.replyLost(), .answered()], delays: { _, _ in UInt64(random.unit() * 1e8) }).check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-17") == .passed)
        #expect(report.rule("CR-17")?.evidence.contains("40 / 20") == true, "\(report.digest)")
    }

    /// A careful client under a total outage: every attempt meets a fault, and it gives
    /// up after the 5 attempts CR-10 allows, with growing, jittered waits. A = 5 is what
    /// CR-10 allows, not a storm; with CR-10's limit at 3 both rules flag it.
    @Test func givingUpWithinTheAttemptsCR10AllowsIsNotAStorm() throws {
        var random = TestRandom(seed: 11)
        let log = Self.requests(6, method: "GET", outcomes: Array(repeating: .respond(), count: 5)) { _, attempt in
            UInt64(Double(100 * Self.ms << UInt64(attempt)) * (0.5 + random.unit()))
        }
        let report = try log.check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-10") == .passed && report.status("CR-17") == .passed, "\(report.digest)")
        #expect(report.rule("CR-17")?.evidence.contains("30 / 6") == true, "\(report.digest)")

        let stricter = try log.check(RetryCheckOptions(maxAttempts: 3))
        #expect(stricter.ruleIDs == ["CR-10", "CR-17"], "\(stricter.digest)")
        #expect(stricter.notes.contains { $0.hasSuffix("CR-17's amplification limit follows it") }, "\(stricter.notes)")
        // CR-17's own limit, when set, is its own: the note does not claim otherwise.
        let own = try RuleSettings.parse("faultline_rules: 1\nrules:\n  CR-17: {max_amplification: 6}\n", file: "rules.yaml")
        let apart = try log.check(RetryCheckOptions(maxAttempts: 3, settings: own))
        #expect(apart.ruleIDs == ["CR-10"], "\(apart.digest)")
        #expect(apart.notes.contains { $0.hasPrefix("CR-10 limit set to 3 attempts") && !$0.contains("CR-17") }, "\(apart.notes)")
    }

    // MARK: CR-19

    /// A wait the proxy (or the server) ended says only that the client held on that
    /// long: 3 s is no evidence against a client with a longer timeout (inconclusive);
    /// past max_hold it is CR-19.
    @Test func waitingUntilTheProxyClosesIsCR19OnlyPastTheLimit() throws {
        let short = try Self.requests(2, method: "GET", outcomes: [.hang(hold: 3 * Self.s, clientCloses: false)], delays: { _, _ in 0 }).check()
        #expect(short.findings.isEmpty, "\(short.digest)")
        #expect(short.rule("CR-19")?.evidence.contains("inconclusive") == true, "\(short.digest)")
        let long = try Self.requests(2, method: "GET", outcomes: [.hang(hold: 90 * Self.s, clientCloses: false)], delays: { _, _ in 0 }).check()
        #expect(long.ruleIDs == ["CR-19"], "\(long.digest)")
        #expect(long.findings[0].message.contains("never gave up"), "\(long.digest)")
    }

    /// A client cut off by the proxy stopping (its --grace ran out) may have a timeout
    /// longer than the run: no finding, unless it held on past max_hold.
    @Test func waitingUntilTheProxyStopsIsNotCR19() throws {
        let report = try Self.requests(2, method: "GET", outcomes: [.hangUntilShutdown(hold: 3 * Self.s)], delays: { _, _ in 0 }).check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        let long = try Self.requests(2, method: "GET", outcomes: [.hangUntilShutdown(hold: 90 * Self.s)], delays: { _, _ in 0 }).check()
        #expect(long.ruleIDs == ["CR-19"], "\(long.digest)")
    }

    @Test func holdingForOverAMinuteIsCR19() throws {
        let report = try Self.requests(1, method: "GET", outcomes: [.hang(hold: 90 * Self.s, clientCloses: true)], delays: { _, _ in 0 }).check()
        #expect(report.ruleIDs == ["CR-19"], "\(report.digest)")
        let relaxed = try RuleSettings.parse("faultline_rules: 1\nrules:\n  CR-19: {max_hold: 2m}\n", file: "r.yaml")
        let again = try Self.requests(1, method: "GET", outcomes: [.hang(hold: 90 * Self.s, clientCloses: true)], delays: { _, _ in 0 })
            .check(RetryCheckOptions(settings: relaxed))
        #expect(again.findings.isEmpty, "\(again.digest)")
        #expect(again.notes.contains("CR-19 max_hold set to 120 s by r.yaml"), "\(again.notes)")
    }

    @Test func givingUpAfterASecondIsNotCR19() throws {
        let report = try Self.requests(2, method: "GET", outcomes: [.hang(hold: Self.s, clientCloses: true)], delays: { _, _ in 0 }).check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-19") == .passed)
        #expect(report.clients.first?.timeoutNs.map { abs($0 - Int64(Self.s)) < Int64(Self.ms) } == true, "\(report.clients)")
    }

    // MARK: CR-22

    /// With the same key it is INFO: the client may have timed out before it read the
    /// success (the log cannot tell), and then the same key is what it should send.
    @Test func aPostSentAgainWithItsKeyAfterSuccessIsCR22AsInfo() throws {
        var log = Log()
        let end = log.attempt(Log.Request(key: "k-1"), at: 1_000 * Self.s, .answered())
        log.attempt(Log.Request(key: "k-1"), at: end + 50 * Self.ms, .answered())
        let report = try log.check()
        #expect(report.ruleIDs == ["CR-22"], "\(report.digest)")
        #expect(report.summary.logicalRequests == 2)
        #expect(report.findings[0].requests == ["R2"])
        #expect(report.findings[0].severity == .info)
        #expect(!report.hasViolations)
    }

    /// A POST whose upstream could not be reached never reached a server: its unkeyed
    /// retry is CR-01 INFO (safe this time), not HIGH as after an ambiguous attempt.
    @Test func aRetryAfterAnUnreachableUpstreamIsOnlyInfo() throws {
        var log = Log()
        let end = log.attempt(Log.Request(key: nil), at: 1_000 * Self.s, .upstreamUnreachable(after: 5 * Self.ms))
        log.attempt(Log.Request(key: nil), at: end + 200 * Self.ms, .answered())
        let report = try log.check()
        #expect(report.timeline.requests.first?.attempts.map(\.outcome) == [.notApplied, .answered], "\(report.digest)")
        #expect(report.findings.map(\.severity) == [.info], "\(report.digest)")
        #expect(!report.hasViolations)
    }

    /// The same POST again after a clean success, without a key: as likely meant (a
    /// second identical order, `INCR visits` on every page view) as a retry. INFO.
    @Test func aPostSentAgainWithoutAKeyAfterACleanSuccessIsCR22AsInfo() throws {
        var log = Log()
        let end = log.attempt(Log.Request(key: nil), at: 1_000 * Self.s, .answered())
        log.attempt(Log.Request(key: nil), at: end + 50 * Self.ms, .answered())
        let report = try log.check()
        #expect(report.ruleIDs == ["CR-22"], "\(report.digest)")
        #expect(report.findings[0].severity == .info)
        #expect(report.findings[0].message.contains(": meant (a counter, a second identical order)"), "\(report.findings[0].message)")
        #expect(!report.hasViolations)
    }

    /// A success a fault delayed is still a success the client's socket took: a client
    /// that waited for it and then sent its next, identical operation (a trial's three
    /// deposits under flaky-network) must not fail the build. INFO, naming the fault;
    /// MED once the rules raise CR-22 (a user whose operations are never repeated on
    /// purpose).
    @Test func aPostSentAgainWithoutAKeyAfterADelayedSuccessIsCR22AsInfo() throws {
        var log = Log()
        let end = log.attempt(Log.Request(key: nil), at: 1_000 * Self.s, .delayedReply(delay: 800 * Self.ms))
        log.attempt(Log.Request(key: nil), at: end + 5 * Self.ms, .answered())
        let report = try log.check()
        #expect(report.ruleIDs == ["CR-22"], "\(report.digest)")
        #expect(report.findings[0].severity == .info)
        #expect(report.findings[0].message.contains("(rule-delay (delay) touched that success)"), "\(report.findings[0].message)")
        #expect(!report.hasViolations)
        let strict = try RuleSettings.parse("faultline_rules: 1\nrules:\n  CR-22: {severity: MED}\n", file: "rules.yaml")
        let raised = try log.check(RetryCheckOptions(settings: strict))
        #expect(raised.findings.map(\.severity) == [.medium] && raised.hasViolations, "\(raised.digest)")
    }

    @Test func aGetPolledAgainAfterSuccessIsNotCR22() throws {
        var log = Log()
        let end = log.attempt(Log.Request(method: "GET", key: nil), at: 1_000 * Self.s, .answered())
        log.attempt(Log.Request(method: "GET", key: nil), at: end + 50 * Self.ms, .answered())
        let report = try log.check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.summary.retried == 0)
    }

    /// The reply was still held by a delay when the client gave up and retried: it never
    /// saw the success, so the retry is a retry, not a second submission.
    @Test func aReplyDelayedPastTheClientsTimeoutIsNotASuccess() throws {
        var log = Log()
        let end = log.attempt(Log.Request(key: "k-1"), at: 1_000 * Self.s, .slowReply(delay: 3 * Self.s, timeout: Self.s))
        log.attempt(Log.Request(key: "k-1"), at: end + 1 * Self.ms, .answered())
        let report = try log.check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.summary.retried == 1)
        #expect(report.timeline.requests[0].attempts[0].outcome == .clientGaveUp)
    }
}
