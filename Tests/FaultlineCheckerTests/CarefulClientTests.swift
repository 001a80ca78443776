import FaultlineCore
import Testing

@testable import FaultlineChecker

/// Clients whose habits the rule book calls correct are never flagged, and the
/// well-known libraries' habits are judged as checker.md §1.2 says they should be.
struct CarefulClientTests {
    typealias Log = SyntheticLog
    static let ms = SyntheticLog.ms
    static let s = SyntheticLog.s

    /// Which faults a run injects, by chance per attempt.
    enum Mix: String, CaseIterable {
        /// The reply to every first attempt is lost (reply-lost).
        case replyLostFirst
        /// Requests are swallowed on a third of the attempts (request-lost).
        case requestLost
        /// The connection is reset when the reply starts, on a fifth (server crash).
        case reset
        /// 503 with Retry-After on a third of the attempts.
        case busy
        /// The reply is held past the client's timeout on a fifth.
        case slow
        /// All of the above.
        case everything
    }

    static func outcome(_ mix: Mix, attempt: Int, random: inout TestRandom) -> Log.Outcome {
        let draw = random.unit()
        switch mix {
        case .replyLostFirst:
            return attempt == 0 ? .replyLost(timeout: Self.s) : .answered(status: 201)
        case .requestLost:
            return draw < 0.33 ? .requestLost(timeout: Self.s) : .answered(status: 201)
        case .reset:
            return draw < 0.2 ? .reset() : .answered(status: 201)
        case .busy:
            return draw < 0.33 ? .respond(status: 503, retryAfter: "1") : .answered(status: 201)
        case .slow:
            return draw < 0.2 ? .slowReply(delay: 3 * Self.s, timeout: Self.s) : .answered(status: 201)
        case .everything:
            let all: [Mix] = [.requestLost, .reset, .busy, .slow]
            return Self.outcome(all[Int(draw * 4) % 4], attempt: attempt, random: &random)
        }
    }

    /// The careful client: one key per logical request reused on every attempt,
    /// exponential backoff from 100 ms with full jitter, at most 4 attempts, Retry-After
    /// honoured, a 1 s timeout per attempt. 30 logical requests, a new one every 250 ms
    /// (so they overlap), each on new connections.
    static func careful(_ mix: Mix, seed: UInt64, requests: Int = 30) -> Log {
        var random = TestRandom(seed: seed)
        var log = Log(seed: seed)
        for i in 0..<requests {
            let request = Log.Request(method: "POST", path: "/charges", key: "key-\(seed)-\(i)", fingerprint: "fp-\(seed)-\(i)")
            var time = 1_000 * Self.s + UInt64(i) * 250 * Self.ms
            var retryAfter: UInt64 = 0
            for attempt in 0..<4 {
                if attempt > 0 {
                    let nominal = Double(100 * Self.ms << UInt64(attempt - 1))
                    time += max(UInt64(random.unit() * nominal), retryAfter)
                }
                let outcome = Self.outcome(mix, attempt: attempt, random: &random)
                time = log.attempt(request, at: time, outcome)
                switch outcome {
                case .answered: retryAfter = .max
                case .respond(_, let after): retryAfter = after.flatMap { UInt64($0) }.map { $0 * Self.s } ?? 0
                default: retryAfter = 0
                }
                if retryAfter == .max { break }
            }
        }
        return log
    }

    static let cases: [(Mix, UInt64)] = Mix.allCases.flatMap { mix in (1...20).map { (mix, UInt64($0)) } }

    @Test(arguments: Self.cases)
    func theCarefulClientIsNeverFlagged(mix: Mix, seed: UInt64) throws {
        let report = try Self.careful(mix, seed: seed).check()
        #expect(report.findings.isEmpty, "\(mix) seed \(seed):\n\(report.digest)")
        #expect(!report.hasViolations)
        if mix == .replyLostFirst {
            #expect(report.summary.retried == 30, "\(report.digest)")
            #expect(report.rule("CR-17")?.evidence.contains("60 / 30") == true, "\(report.digest)")
        }
    }

    @Test func theCarefulClientsBackoffIsInferred() throws {
        var log = Log()
        var random = TestRandom(seed: 42)
        for i in 0..<40 {
            let request = Log.Request(method: "POST", key: "k-\(i)", fingerprint: "f-\(i)")
            log.logical(
                request, at: 1_000 * Self.s + UInt64(i) * 10 * Self.s, outcomes: [.respond(status: 503), .respond(status: 503), .respond(status: 503), .answered()],
                delays: { k in UInt64(random.unit() * Double(100 * Self.ms << UInt64(k - 1))) }
            )
        }
        let report = try log.check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        let client = try #require(report.clients.first)
        #expect(client.client == "10.0.0.1")
        #expect(client.backoff == "exponential", "\(report.digest)")
        #expect(client.jitter == "full", "\(report.digest)")
        #expect((1.6...2.5).contains(client.growth ?? 0), "\(report.digest)")
        #expect(client.maxAttempts == 4 && client.meanAttempts == 4)
        #expect(client.samples == 120)
    }

    /// A constant schedule with ±20 % jitter (gRPC's) is jittered: no CR-08.
    @Test func proportionalJitterIsEnough() throws {
        var log = Log()
        var random = TestRandom(seed: 9)
        for i in 0..<25 {
            let request = Log.Request(method: "GET", key: nil, fingerprint: "f-\(i)")
            log.logical(
                request, at: 1_000 * Self.s + UInt64(i) * 10 * Self.s, outcomes: [.respond(status: 503), .respond(status: 503), .answered()],
                delays: { k in UInt64(Double(200 * Self.ms << UInt64(k - 1)) * (0.8 + 0.4 * random.unit())) }
            )
        }
        let report = try log.check()
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-08") == .passed, "\(report.digest)")
        #expect(report.clients.first?.jitter == "proportional", "\(report.digest)")
    }
}
