import FaultlineCore
import Testing

@testable import FaultlineChecker

/// Cases a review of the checker found: overlapping requests split after a success keep
/// every reference pointing at the request that holds the attempt; a bound from the
/// time between sends is for datagrams only; a Retry-After leaves a wait out only when
/// it can be read; a failed dial is not applied whoever closed first.
struct OverlapAndBoundTests {
    static let ms = SyntheticLog.ms
    static let s = SyntheticLog.s

    /// three threads send the same GET at once (each on its own connection, each
    /// waiting for its own reply), under a reply-dropping fault; each times out after 1 s.
    /// Three such episodes, far apart. No thread retried anything.
    @Test func concurrentGetsUnderLostRepliesAreNotImmediateRetries() throws {
        var log = SyntheticLog()
        let request = SyntheticLog.Request(method: "GET", path: "/status", key: nil, fingerprint: "fp-status")
        for episode in 0..<3 {
            let base = 1_000 * Self.s + UInt64(episode) * 200 * Self.s
            for thread in 0..<3 {
                log.attempt(request, at: base + UInt64(thread) * Self.ms, .replyLost(timeout: 1 * Self.s))
            }
        }
        let report = try log.check()
        #expect(!report.findings.contains { $0.rule == "CR-06" }, "\(report.digest)")
    }

    /// a copy of a POST overlaps one that succeeds; the copy's reply is delayed by a
    /// fault. The timeline's fault row should name the request that holds that attempt.
    @Test func faultRowNamesTheSplitRequest() throws {
        var log = SyntheticLog()
        let request = SyntheticLog.Request(method: "POST", path: "/orders", key: nil, fingerprint: "fp-o")
        log.attempt(request, at: 1_000 * Self.s, .answered(latency: 50 * Self.ms))
        log.attempt(request, at: 1_000 * Self.s + 1 * Self.ms, .delayedReply(delay: 100 * Self.ms))
        let report = try log.check()
        let faultRow = try #require(report.timeline.faults.first { $0.kind == "delay" })
        let owner = report.timeline.requests.first { $0.attempts.contains { $0.fault != nil } }
        #expect(faultRow.request == owner?.id, "fault row says \(faultRow.request ?? "nil"), attempt is in \(owner?.id ?? "nil")")
    }

    /// As above, then the same POST again 500 ms later (CR-22). Which request does
    /// CR-22 say succeeded, and with which fault?
    @Test func cr22NamesTheRequestThatSucceededLast() throws {
        var log = SyntheticLog()
        let request = SyntheticLog.Request(method: "POST", path: "/orders", key: nil, fingerprint: "fp-o")
        log.attempt(request, at: 1_000 * Self.s, .answered(latency: 50 * Self.ms))
        log.attempt(request, at: 1_000 * Self.s + 1 * Self.ms, .delayedReply(delay: 100 * Self.ms))
        log.attempt(request, at: 1_000 * Self.s + 500 * Self.ms, .answered())
        let report = try log.check()
        let finding = try #require(report.findings.first { $0.rule == "CR-22" })
        let faulted = try #require(report.timeline.requests.first { $0.attempts.contains { $0.fault != nil } })
        #expect(finding.message.contains("after \(faulted.id) succeeded"), "\(finding.message)")
    }

    /// keyed POST: attempt 0 succeeds (slowly), attempt 1 (same key) overlaps and its
    /// reply is lost; then the client sends the same payload with another key.
    @Test func cr03NamesTheRequestThatEndedAsSaid() throws {
        var log = SyntheticLog()
        var request = SyntheticLog.Request(method: "POST", path: "/orders", key: "k1", fingerprint: "fp-o")
        log.attempt(request, at: 1_000 * Self.s, .answered(latency: 50 * Self.ms))
        log.attempt(request, at: 1_000 * Self.s + 1 * Self.ms, .replyLost(timeout: 1 * Self.s))
        request.key = "k2"
        log.attempt(request, at: 1_000 * Self.s + 1_100 * Self.ms, .answered())
        let report = try log.check()
        let finding = try #require(report.findings.first { $0.rule == "CR-03" })
        let ambiguousRow = try #require(report.timeline.requests.first { $0.attempts.last?.outcome == .ambiguous })
        #expect(finding.message.contains("right after \(ambiguousRow.id),"), "\(finding.message)")
    }

    /// a careless client ignores a Retry-After it cannot parse and hammers the
    /// server: 6 requests, each 503 four times, retried 1 ms apart.
    @Test func anUnreadableRetryAfterDoesNotHideImmediateRetries() throws {
        var log = SyntheticLog()
        let request = SyntheticLog.Request(method: "GET", path: "/x", key: nil, fingerprint: "fp-x")
        for r in 0..<6 {
            var copy = request
            copy.fingerprint = "fp-\(r)"
            log.logical(copy, at: 1_000 * Self.s + UInt64(r) * 100 * Self.s,
                        outcomes: [.answered(status: 503, retryAfter: "1.5"), .answered(status: 503, retryAfter: "1.5"), .answered(status: 503, retryAfter: "1.5"), .answered()],
                        delays: { _ in Self.ms })
        }
        let report = try log.check()
        #expect(!report.findings.filter { $0.severity >= .low }.isEmpty, "\(report.digest)")
    }

    /// the upstream cannot be reached and the client's timeout (1 s) is shorter than
    /// the dial's: the proxy logs closed_by client, reason upstream_unreachable. No
    /// server saw any attempt; an unkeyed POST retried after it is safe.
    @Test func clientClosingBeforeAFailedDialIsNotApplied() throws {
        var log = SyntheticLog()
        let request = SyntheticLog.Request(method: "POST", path: "/charges", key: nil, fingerprint: "fp-c")
        log.attempt(request, at: 1_000 * Self.s, .upstreamUnreachable(after: 1 * Self.s))
        log.attempt(request, at: 1_001 * Self.s + 200 * Self.ms, .answered())
        var events = log.ordered
        for index in events.indices where events[index].type == .connectionClose && events[index].reason == "upstream_unreachable" {
            events[index].closedBy = "client"
        }
        var checker = RetryChecker(options: RetryCheckOptions(), inputs: ["test.jsonl"])
        for (index, event) in events.enumerated() { try checker.consume(event, file: "test.jsonl", line: index + 1) }
        let report = checker.finish()
        #expect(!report.hasViolations, "\(report.digest)")
    }
}
