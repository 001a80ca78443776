import FaultlineCore
import FaultlineTestSupport
import Foundation
import Testing

@testable import FaultlineChecker

/// The checker as a stream: bounded memory, the report's shape, and logs it refuses.
struct RetryCheckerStreamTests {
    typealias Log = SyntheticLog
    static let ms = SyntheticLog.ms
    static let s = SyntheticLog.s

    /// 30,000 logical requests one after another (a tenth retried once): what the
    /// checker holds stays at what is open at once, whatever the log's length.
    @Test(.timeLimit(.minutes(5)))
    func thirtyThousandRequestsInBoundedMemory() async throws {
        // Seconds of computing: on a thread of its own, not one of the pool's two.
        let (highest, report, liveAfter) = try await onOwnThread {
            var checker = RetryChecker(options: RetryCheckOptions(window: .seconds(1)), inputs: ["long.jsonl"])
            var line = 0
            func feed(_ log: Log) throws {
                for event in log.ordered {
                    line += 1
                    try checker.consume(event, file: "long.jsonl", line: line)
                }
            }
            try feed(Log(start: 1_000 * Self.s))
            var highest = 0
            var conn: UInt64 = 0
            // 30,000 logical requests: three times the timeline cap, thirty times the bound on
            // live state; more only costs the suite time (the bench checks 1,000,000 events).
            for i in 0..<30_000 {
                var log = Log(start: 0, announce: false, firstConn: conn)
                let request = Log.Request(method: "POST", path: "/orders", key: "k-\(i)", fingerprint: "f-\(i)", client: "10.0.\(i % 4).1")
                let start = 1_000 * Self.s + UInt64(i) * 10 * Self.ms
                let outcomes: [Log.Outcome] = i % 10 == 0 ? [.respond(status: 503), .answered(status: 201)] : [.answered(status: 201)]
                log.logical(request, at: start, outcomes: outcomes, delays: { _ in 2 * Self.ms })
                conn += UInt64(outcomes.count)
                try feed(log)
                if i % 1_000 == 0 { highest = max(highest, checker.liveState) }
            }
            let report = checker.finish()
            return (highest, report, checker.liveState)
        }
        #expect(highest < 1_000, "live state grew to \(highest)")
        #expect(report.summary.logicalRequests == 30_000)
        #expect(report.summary.retried == 3_000)
        #expect(report.summary.attempts == 33_000)
        #expect(report.summary.clients == 4)
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.timeline.requests.count == 10_000)
        #expect(report.notes.contains("timeline truncated: rows for the first 10000 of 30000 logical requests"), "\(report.notes)")
        #expect(liveAfter == 0)
    }

    @Test func everyRuleIsReportedInOrder() throws {
        let report = try Log().check()
        #expect(
            report.rules.map(\.id) == ["CR-01", "CR-03", "CR-04", "CR-06", "CR-07", "CR-08", "CR-09", "CR-10", "CR-12", "CR-13", "CR-14", "CR-15", "CR-17", "CR-19", "CR-22"]
        )
        #expect(report.check == "retries")
        #expect(report.inputs == ["test.jsonl"])
        #expect(report.seeds == [1])
        #expect(report.notes.contains { $0.hasPrefix("no request messages") })
    }

    @Test func findingsAreSortedMostSevereFirstAndTheTimelineMarksThem() throws {
        var log = Log()
        // R1: a LOW CR-12 (retrying for over a minute); R2: a HIGH CR-01.
        log.logical(Log.Request(method: "GET", fingerprint: "a"), at: 1_000 * Self.s, outcomes: Array(repeating: .respond(), count: 4), delays: { _ in 25 * Self.s })
        log.logical(Log.Request(key: nil, fingerprint: "b"), at: 1_001 * Self.s, outcomes: [.replyLost(), .answered()], delays: { _ in 100 * Self.ms })
        let report = try log.check()
        #expect(report.findings.map(\.rule) == ["CR-01", "CR-12"], "\(report.digest)")
        #expect(report.timeline.requests.map(\.id) == ["R1", "R2"])
        #expect(report.timeline.requests.map(\.findings) == [["CR-12"], ["CR-01"]])
        #expect(report.timeline.faults.contains { $0.kind == "drop" && $0.request == "R2" })
        #expect(report.summary.findingsBySeverity == ["HIGH": 1, "LOW": 1])
        #expect(report.origin == 1_000 * Self.s)
        #expect(report.timeline.requests[0].attempts[0].startNs == 0)
    }

    @Test func aLogWithoutFramingIsRefusedNamingFraming() throws {
        var events: [Event] = []
        var start = Event(.proxyStart)
        start.proxy = "proxy"
        start.framing = "raw"
        start.mono = 1
        events.append(start)
        var open = Event(.connectionOpen)
        open.proxy = "proxy"
        open.conn = 0
        open.client = "127.0.0.1:5000"
        open.mono = 2
        events.append(open)
        var close = Event(.connectionClose)
        close.proxy = "proxy"
        close.conn = 0
        close.mono = 3
        events.append(close)
        var checker = RetryChecker(options: RetryCheckOptions(), inputs: ["raw.jsonl"])
        do {
            for (index, event) in events.enumerated() { try checker.consume(event, file: "raw.jsonl", line: index + 1) }
            Issue.record("a raw log was accepted")
        } catch let error as any UserFacingError {
            #expect(error.exitStatus == 2)
            #expect(error.description == "raw.jsonl: no request messages: the proxy ran without framing; run it with --framing http|resp|line|length")
        }
    }

    @Test func anotherKeyHeaderNeedsPayloads() throws {
        var log = Log()
        log.attempt(Log.Request(key: nil), at: 1_000 * Self.s, .answered())
        #expect(throws: InvalidInputError.self) { try log.check(RetryCheckOptions(keyHeader: "X-Request-Key")) }
        do {
            _ = try log.check(RetryCheckOptions(keyHeader: "X-Request-Key"))
        } catch {
            #expect("\(error)".contains("--record-payloads"), "\(error)")
            #expect("\(error)".hasPrefix("test.jsonl:3:"), "\(error)")
        }
    }

    @Test func anotherKeyHeaderIsReadFromThePayload() throws {
        var events = Log().ordered
        for (index, key) in ["abc", "abc"].enumerated() {
            let head = "POST /pay HTTP/1.1\r\nHost: x\r\nX-Request-Key: \(key)\r\nContent-Length: 2\r\n\r\n{}"
            var open = Event(.connectionOpen)
            open.proxy = "proxy"
            open.conn = UInt64(index)
            open.client = "10.0.0.9:\(4000 + index)"
            open.mono = 1_000 * Self.s + UInt64(index) * Self.s
            var message = Event(.message)
            message.proxy = "proxy"
            message.conn = UInt64(index)
            message.direction = .upstream
            message.unit = 0
            message.method = "POST"
            message.path = "/pay"
            message.fingerprint = "fp-pay"
            message.payload = Data(head.utf8).base64EncodedString()
            message.mono = open.mono! + Self.ms
            var drop = Event(.fault)
            drop.proxy = "proxy"
            drop.conn = UInt64(index)
            drop.direction = .upstream
            drop.unit = 0
            drop.kind = "drop"
            drop.action = "drop"
            drop.rule = "lose"
            drop.params = ["attempt": "\(index)"]
            drop.mono = message.mono
            var close = Event(.connectionClose)
            close.proxy = "proxy"
            close.conn = UInt64(index)
            close.closedBy = "client"
            close.mono = open.mono! + 500 * Self.ms
            events += index == 0 ? [open, message, drop, close] : [open, message, close]
        }
        var checker = RetryChecker(options: RetryCheckOptions(keyHeader: "x-request-key"), inputs: ["p.jsonl"])
        for (index, event) in events.enumerated() { try checker.consume(event, file: "p.jsonl", line: index + 1) }
        let report = checker.finish()
        #expect(report.summary.logicalRequests == 1, "\(report.digest)")
        #expect(report.timeline.requests.first?.attempts.count == 2)
        // The key was read: CR-03 had keyed retries to judge (without it, nothing applied).
        #expect(report.status("CR-03") == .passed, "\(report.digest)")
        #expect(report.notes.contains("idempotency key read from the x-request-key header of recorded payloads"))
    }

    @Test func operationsAreNamedAndFolded() {
        #expect(RequestOperation.fold("/charges/123/refunds/9f1c2f0e-1b2c-4d5e-8f90-0123456789ab?x=1") == "/charges/{id}/refunds/{id}")
        #expect(RequestOperation.name(framing: "http", method: "post", path: "/a/42", command: nil, payload: nil) == "POST /a/{id}")
        #expect(RequestOperation.name(framing: "resp", method: nil, path: nil, command: "incr", payload: nil) == "INCR")
        #expect(RequestOperation.name(framing: "line", method: nil, path: nil, command: nil, payload: Data("deposit 10\n".utf8).base64EncodedString()) == "deposit")
        #expect(RequestOperation.name(framing: "length", method: nil, path: nil, command: nil, payload: nil) == "message")
        #expect(RequestOperation.host(of: "127.0.0.1:5432") == "127.0.0.1")
        #expect(RequestOperation.host(of: "[::1]:5432") == "::1")
        let settings = RuleSettings()
        #expect(RequestOperation.safety(operation: "INCR", framing: "resp", method: nil, command: "INCR", settings: settings) == .nonIdempotent)
        #expect(RequestOperation.safety(operation: "SET", framing: "resp", method: nil, command: "SET", settings: settings) == .idempotent)
        #expect(RequestOperation.safety(operation: "PUT /a", framing: "http", method: "PUT", command: nil, settings: settings) == .idempotent)
        #expect(RequestOperation.safety(operation: "PATCH /a", framing: "http", method: "PATCH", command: nil, settings: settings) == .nonIdempotent)
    }
}
