import FaultlineChecker
import FaultlineCore
import Testing

/// Logical requests belong to one proxy, and UDP logs (every datagram a message) are
/// judged like framed TCP ones.
struct ScopeAndDatagramTests {
    static let ms: UInt64 = 1_000_000

    static func event(_ type: Event.Kind, proxy: String, at mono: UInt64, _ fill: (inout Event) -> Void = { _ in }) -> Event {
        var event = Event(type)
        event.proxy = proxy
        event.mono = mono
        fill(&event)
        return event
    }

    static func check(_ events: [Event]) throws -> CheckReport {
        var checker = RetryChecker(options: RetryCheckOptions(), inputs: ["test.jsonl"])
        for (index, event) in events.enumerated() {
            try checker.consume(event, file: "test.jsonl", line: index + 1)
        }
        return checker.finish()
    }

    /// One answered request on connection `conn` of `proxy`.
    static func exchange(proxy: String, conn: UInt64, at start: UInt64, framing: String = "http") -> [Event] {
        [
            Self.event(.connectionOpen, proxy: proxy, at: start) { $0.conn = conn; $0.client = "127.0.0.1:4000\(conn)" },
            Self.event(.message, proxy: proxy, at: start + 1 * Self.ms) {
                $0.conn = conn; $0.direction = .upstream; $0.unit = 0; $0.method = "POST"; $0.path = "/deposits"
                $0.fingerprint = "f1"; $0.attempt = 0; $0.firstMono = start + 1 * Self.ms
            },
            Self.event(.message, proxy: proxy, at: start + 3 * Self.ms) {
                $0.conn = conn; $0.direction = .downstream; $0.unit = 0; $0.status = 201; $0.requestUnit = 0
                $0.requestMono = start + 1 * Self.ms; $0.attempt = 0
            },
            Self.event(.connectionClose, proxy: proxy, at: start + 5 * Self.ms) {
                $0.conn = conn; $0.closedBy = "client"; $0.firstCloseMono = start + 4 * Self.ms; $0.reason = "closed"
            },
        ]
    }

    @Test func theSameRequestToTwoProxiesIsTwoRequestsNotADuplicate() throws {
        let start: UInt64 = 1_000_000 * Self.ms
        var events = [
            Self.event(.proxyStart, proxy: "payments", at: start) { $0.framing = "http"; $0.seed = 1 },
            Self.event(.proxyStart, proxy: "ledger", at: start) { $0.framing = "http"; $0.seed = 1 },
        ]
        events += Self.exchange(proxy: "payments", conn: 0, at: start + 10 * Self.ms)
        events += Self.exchange(proxy: "ledger", conn: 0, at: start + 20 * Self.ms)
        let report = try Self.check(events)
        #expect(report.summary.logicalRequests == 2)
        #expect(report.findings.isEmpty, "\(report.findings.map(\.rule))")
        // The same two requests through one proxy are a re-submission.
        var one = [Self.event(.proxyStart, proxy: "payments", at: start) { $0.framing = "http"; $0.seed = 1 }]
        one += Self.exchange(proxy: "payments", conn: 0, at: start + 10 * Self.ms)
        one += Self.exchange(proxy: "payments", conn: 1, at: start + 20 * Self.ms)
        #expect(try Self.check(one).findings.map(\.rule) == ["CR-22"])
    }

    /// A UDP query whose reply a `loss` fault dropped, retried after a 300 ms timeout:
    /// one logical request, retried once, and no finding (a query may be repeated).
    @Test func aDatagramRetriedAfterALostReplyIsOneLogicalRequest() throws {
        let start: UInt64 = 2_000_000 * Self.ms
        let proxy = "dns"
        func datagram(_ direction: Event.Direction, unit: UInt64, at mono: UInt64, attempt: UInt64) -> Event {
            Self.event(.message, proxy: proxy, at: mono) {
                $0.conn = 0; $0.direction = direction; $0.unit = unit; $0.firstMono = mono; $0.attempt = attempt
                if direction == .upstream {
                    $0.fingerprint = "q1"
                } else {
                    $0.requestUnit = unit; $0.requestMono = mono - 1 * Self.ms
                }
            }
        }
        let events = [
            Self.event(.proxyStart, proxy: proxy, at: start) { $0.framing = "datagram"; $0.seed = 5 },
            Self.event(.connectionOpen, proxy: proxy, at: start + 1 * Self.ms) { $0.conn = 0; $0.client = "127.0.0.1:5353" },
            datagram(.upstream, unit: 0, at: start + 1 * Self.ms, attempt: 0),
            datagram(.downstream, unit: 0, at: start + 2 * Self.ms, attempt: 0),
            Self.event(.fault, proxy: proxy, at: start + 2 * Self.ms) {
                $0.conn = 0; $0.direction = .downstream; $0.unit = 0; $0.rule = "random-loss"; $0.kind = "loss"; $0.action = "dropped"
            },
            datagram(.upstream, unit: 1, at: start + 301 * Self.ms, attempt: 1),
            datagram(.downstream, unit: 1, at: start + 302 * Self.ms, attempt: 1),
            Self.event(.connectionClose, proxy: proxy, at: start + 400 * Self.ms) { $0.conn = 0; $0.reason = "idle_timeout" },
        ]
        let report = try Self.check(events)
        #expect(report.summary.logicalRequests == 1)
        #expect(report.summary.retried == 1)
        #expect(report.findings.isEmpty, "\(report.findings.map(\.rule))")
        #expect(report.timeline.requests.first?.operation == "datagram")
        #expect(report.timeline.requests.first?.attempts.map(\.outcome) == [.ambiguous, .answered])
        // The lost attempt's end is not known (the session outlived the retry), so no
        // delay was measured: backoff is not judged, neither passed nor inapplicable.
        #expect(report.status("CR-06") == .notEnoughEvidence)
    }

    /// Enough requests retried three times, but no delay between attempts measurable (each
    /// lost attempt's end is the session's): CR-07 has no evidence, it has not passed.
    @Test func retriesWithoutMeasurableDelaysAreNotEnoughEvidence() throws {
        let events = Self.datagramRetries(queries: 12, spacing: [100 * Self.ms, 300 * Self.ms, 800 * Self.ms])
        let report = try Self.check(events)
        #expect(report.summary.retried == 12, "\(report.summary)")
        #expect(report.status("CR-07") == .notEnoughEvidence, "\(report.rules.map { "\($0.id) \($0.status) \($0.evidence)" })")
        #expect(report.status("CR-06") == .notEnoughEvidence)
    }

    /// Datagram queries whose lost attempts were re-sent `spacing` apart (one attempt
    /// more than `spacing` has), the last one answered. A lost attempt's end is its session's, so no gap is
    /// measured; only the time between the sends bounds it.
    static func datagramRetries(queries: Int, spacing: [UInt64], answered: Bool = true) -> [Event] {
        let start: UInt64 = 2_000_000 * Self.ms
        let proxy = "dns"
        var events = [
            Self.event(.proxyStart, proxy: proxy, at: start) { $0.framing = "datagram"; $0.seed = 5 },
            Self.event(.connectionOpen, proxy: proxy, at: start + 1 * Self.ms) { $0.conn = 0; $0.client = "127.0.0.1:5353" },
        ]
        var unit: UInt64 = 0
        for query in 0..<queries {
            var mono = start + 10 * Self.ms + UInt64(query) * 2_000 * Self.ms
            for attempt in 0...spacing.count {
                if attempt > 0 { mono += spacing[attempt - 1] }
                events.append(Self.event(.message, proxy: proxy, at: mono) { [mono, unit] in
                    $0.conn = 0; $0.direction = .upstream; $0.unit = unit; $0.firstMono = mono; $0.attempt = UInt64(attempt); $0.fingerprint = "q\(query)"
                })
                if answered, attempt == spacing.count {
                    events.append(Self.event(.message, proxy: proxy, at: mono + 1 * Self.ms) { [mono, unit] in
                        $0.conn = 0; $0.direction = .downstream; $0.unit = unit; $0.requestUnit = unit; $0.requestMono = mono
                    })
                }
                unit += 1
            }
        }
        events.append(Self.event(.connectionClose, proxy: proxy, at: start + 30_000 * Self.ms) { $0.conn = 0; $0.reason = "idle_timeout" })
        return events
    }

    /// A client that gives up on its queries: the lost datagrams' end is the session's,
    /// 30 s later, so the client's deadline is measured to its last send (1.2 s), not
    /// to the session's idle timeout.
    @Test func aGivenUpQuerysDeadlineRunsToItsLastSend() throws {
        let report = try Self.check(Self.datagramRetries(queries: 3, spacing: [100 * Self.ms, 300 * Self.ms, 800 * Self.ms], answered: false))
        let client = try #require(report.clients.first)
        #expect(client.deadlineNs == Int64(1_200 * Self.ms), "\(client)")
    }

    /// A UDP client that re-sends a query every 2 ms: whenever its attempts failed, the
    /// gap before each retry was under 2 ms, so CR-06 has its evidence without the
    /// failures' times, and says where it came from.
    @Test func datagramsResentWithinMinGapOfEachOtherAreImmediateRetries() throws {
        let report = try Self.check(Self.datagramRetries(queries: 6, spacing: [2 * Self.ms, 2 * Self.ms, 2 * Self.ms]))
        #expect(report.status("CR-06") == .failed, "\(report.rules.map { "\($0.id) \($0.status) \($0.evidence)" })")
        let finding = try #require(report.findings.first { $0.rule == "CR-06" })
        #expect(finding.message.contains("18 of 18 retries"), "\(finding.message)")
        #expect(finding.message.contains("18 of the immediate retries were sent within 10 ms of the attempt before"), "\(finding.message)")
        #expect(report.clients.first?.note?.contains("18 retries sent within 10 ms of the attempt before") == true, "\(report.clients)")
    }

    /// The same client, but its third attempt waited 200 ms: the gaps before it are
    /// unknown (any of them may be the whole 200 ms), so that index is not called
    /// immediate, and with only the first retry immediate there is no finding.
    @Test func aResendAfterAnUnknownWaitIsNeverCountedImmediate() throws {
        let report = try Self.check(Self.datagramRetries(queries: 6, spacing: [2 * Self.ms, 200 * Self.ms, 200 * Self.ms]))
        #expect(!report.findings.contains { $0.rule == "CR-06" }, "\(report.findings.map(\.message))")
        let rule = try #require(report.rules.first { $0.id == "CR-06" })
        #expect(rule.status == .passed, "\(rule)")
        #expect(rule.evidence.contains("6 of 6 retries immediate") && rule.evidence.contains("and 12 whose gap is unknown"), "\(rule.evidence)")
    }
}
