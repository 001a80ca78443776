import FaultlineCore
import Foundation
import Testing

@testable import FaultlineChecker

/// What docs/checker.md says the report can and cannot show, held to the code: logical
/// requests are grouped per proxy name (a failover to another replica's proxy is not a
/// retry there), and no attempt is ever `refused`.
struct DocumentedLimitsTests {
    typealias Log = SyntheticLog
    static let ms = SyntheticLog.ms
    static let s = SyntheticLog.s

    /// `log`'s events as proxy `name` recorded them.
    static func named(_ log: Log, _ name: String) -> [Event] {
        log.ordered.map { event in
            var event = event
            event.proxy = name
            return event
        }
    }

    static func check(_ files: [(String, [Event])]) throws -> CheckReport {
        var checker = RetryChecker(options: RetryCheckOptions(), inputs: files.map(\.0))
        for (file, events) in files {
            for (index, event) in events.enumerated() {
                try checker.consume(event, file: file, line: index + 1)
            }
        }
        return checker.finish()
    }

    /// A client that, on each lost reply at replica A, sends the same keyed POST to
    /// replica B (its own proxy and log). trialG's failover client: "0 retried".
    static func failover(_ count: Int) -> (a: Log, b: Log) {
        var a = Log(), b = Log(firstConn: 1_000)
        for i in 0..<count {
            let request = Log.Request(key: "order-\(i)", fingerprint: "fp-\(i)")
            let end = a.attempt(request, at: 1_000 * Self.s + UInt64(i) * 5 * Self.s, .replyLost())
            b.attempt(request, at: end + 200 * Self.ms, .answered())
        }
        return (a, b)
    }

    @Test func aRetryThroughAnotherProxyIsANewLogicalRequestThere() throws {
        let (a, b) = Self.failover(3)
        let apart = try Self.check([("a.jsonl", Self.named(a, "a")), ("b.jsonl", Self.named(b, "b"))])
        #expect(apart.summary.logicalRequests == 6 && apart.summary.retried == 0, "\(apart.digest)")
        // Logs of proxies with the same name are one proxy: the retries join.
        let together = try Self.check([("a.jsonl", Self.named(a, "api")), ("b.jsonl", Self.named(b, "api"))])
        #expect(together.summary.logicalRequests == 3 && together.summary.retried == 3, "\(together.digest)")
    }

    /// Connections a refuse rule turned away carry no request: no attempt is ever
    /// `refused`. The refusals are faults (counted, drawn on the timeline, tied to no
    /// request), and the request that got in is attempt 0, answered.
    @Test func noAttemptIsEverRefused() throws {
        var log = Log(firstConn: 10)
        var events = Self.named(log, "api")
        let start = 1_000 * Self.s
        for conn in UInt64(0)..<3 {
            var open = Event(.connectionOpen)
            (open.proxy, open.conn, open.client, open.mono) = ("api", conn, "10.0.0.1:\(41_000 + conn)", start + conn * 100 * Self.ms)
            var refuse = Event(.fault)
            (refuse.proxy, refuse.conn, refuse.kind, refuse.action, refuse.rule) = ("api", conn, "refuse", "reset", "refuse-first-three")
            refuse.mono = start + conn * 100 * Self.ms + 1_000
            var close = Event(.connectionClose)
            (close.proxy, close.conn, close.mono, close.closedBy, close.reason) = ("api", conn, refuse.mono! + 1_000, "proxy", "refused")
            events += [open, refuse, close]
        }
        log = Log(announce: false, firstConn: 10)
        log.attempt(Log.Request(method: "GET", key: nil), at: start + 400 * Self.ms, .answered())
        events += Self.named(log, "api")
        let report = try Self.check([("api.jsonl", events.sorted { ($0.mono ?? 0) < ($1.mono ?? 0) })])
        #expect(report.summary.faults == 3, "\(report.digest)")
        #expect(report.summary.attempts == 1 && report.summary.logicalRequests == 1, "\(report.digest)")
        let outcomes = report.timeline.requests.flatMap { $0.attempts.map(\.outcome) }
        #expect(outcomes == [.answered], "\(outcomes)")
        #expect(report.timeline.faults.filter { $0.kind == "refuse" }.count == 3)
        #expect(report.timeline.faults.allSatisfy { $0.request == nil })
        // So the HTML legend names no `refused` outcome.
        let html = ReportWriter.write(report, as: .html)
        #expect(!html.contains("reset / refused"))
    }
}
