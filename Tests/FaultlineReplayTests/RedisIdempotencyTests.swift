import FaultlineChecker
import FaultlineCore
import FaultlineReplay
import FaultlineTestSupport
import Foundation
import Testing

/// `check idempotency` over RESP against a real redis-server: INCR applies every
/// repeat, SET does not, and SET ... NX is its own operation and clean.
@Suite(.timeLimit(.minutes(1)))
struct RedisIdempotencyTests {
    /// Records `commands` through a proxy in front of a new redis-server, then replays
    /// them against it with `probes`. `processed` is how many commands redis-server says
    /// it ran during the replay (its `total_commands_processed`).
    static func check(_ commands: [[UInt8]], probes: [String]) async throws -> (report: CheckReport, operations: [String], processed: Int) {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let log = try await RecordedLog.record(upstreamPort: redis.port, framing: .resp, requests: commands, isComplete: RESPTestMessage.isComplete)
        defer { try? FileManager.default.removeItem(atPath: log) }
        let recorded = try RecordedRequests.load(path: log)
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: HostPort(host: "127.0.0.1", port: redis.port)))
        options.timeout = .seconds(60)  // a guard against hangs only: a loaded machine may answer slowly
        options.probes = probes
        let before = try await Self.commandsProcessed(port: redis.port)
        let report = try await IdempotencyCheck(options: options, recorded: recorded, inputs: [log]).run()
        // The second INFO counts the first.
        let processed = try await Self.commandsProcessed(port: redis.port) - before - 1
        return (report, recorded.requests.map(\.operation), processed)
    }

    /// redis-server's `total_commands_processed`, from `INFO stats` (which it counts once done).
    static func commandsProcessed(port: Int) async throws -> Int {
        let reply = try await SocketClient.call(port: port, request: RESPTestMessage.command("INFO", "stats"), isComplete: RESPTestMessage.isComplete)
        guard case .reply(let text) = reply else { throw UnexpectedReply(reply: reply) }
        let line = try #require(text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("total_commands_processed:") })
        return try #require(Int(line.dropFirst("total_commands_processed:".count)))
    }

    struct UnexpectedReply: Error {
        var reply: SocketClient.Reply
    }

    /// DEL answers 1, then 0, 0: the first delete counted the key, the repeats found
    /// none. Without a probe that is no verdict, and the reason is not "a clock".
    @Test func aDeleteRepeatedWithoutAProbeIsNotCalledAClock() async throws {
        let (report, operations, _) = try await Self.check(
            [RESPTestMessage.command("SET", "session", "s1"), RESPTestMessage.command("DEL", "session")],
            probes: []
        )
        #expect(operations == ["SET", "DEL"])
        let sr01 = try #require(report.rules.first { $0.id == "SR-01" && $0.operation == "DEL" })
        #expect(sr01.status == .notEnoughEvidence)
        #expect(sr01.evidence.contains("1 → 0 → 0") && sr01.evidence.contains("idempotent delete"), "\(sr01.evidence)")
        #expect(!sr01.evidence.contains("clock"), "\(sr01.evidence)")
        #expect(report.findings.isEmpty, "\(report.findings.map(\.message))")
    }

    @Test func incrIsAtLeastOnceAndSetIsIdempotent() async throws {
        let (report, operations, processed) = try await Self.check(
            [
                RESPTestMessage.command("INCR", "visits"),
                RESPTestMessage.command("SET", "owner", "alice"),
                RESPTestMessage.command("SET", "lock", "holder-1", "NX"),
                RESPTestMessage.command("GET", "visits"),
            ],
            probes: ["GET visits", "GET owner", "GET lock"]
        )
        #expect(operations == ["INCR", "SET", "SET NX", "GET"])
        let verdicts = Dictionary(uniqueKeysWithValues: (report.operations ?? []).map { ($0.operation, $0) })
        #expect(verdicts["INCR"]?.classification == .atLeastOnce)
        #expect(verdicts["INCR"]?.reason == "a repeat applied again (SR-01, SR-05)")
        #expect(verdicts["SET"]?.classification == .idempotent)
        #expect(verdicts["SET NX"]?.classification == .idempotent)
        #expect(verdicts["GET"]?.classification == .idempotent)
        #expect(Set(report.findings.map(\.operation)) == ["INCR"])
        #expect(Set(report.findings.map(\.rule)) == ["SR-01", "SR-05"])
        // RESP carries no key: the keyed experiments do not apply.
        let incr = report.rules.filter { $0.operation == "INCR" }
        #expect(incr.first { $0.id == "SR-04" }?.status == .notApplicable)
        #expect(incr.first { $0.id == "SR-01" }?.severity == .high)
        #expect(report.hasViolations)

        // The summary counts what replay did, as redis-server saw it. Per operation:
        // SR-01 sends 3 and SR-05 2 (its first reply dropped by replay's proxy), each read
        // with the 3 probes before, between and after (6 readings of 3).
        let summary = try #require(report.counts.idempotency, "\(report.counts)")
        #expect(summary.operations == 4 && summary.operationsRecorded == 4)
        #expect(summary.requestsSent == 4 * 5)
        #expect(summary.probeRequests == 4 * 6 * 3)
        #expect(summary.requestsSent + summary.probeRequests == processed)
        #expect(summary.repliesDropped == 4)
        #expect(summary.unanswered == 0)
        #expect(summary.repliesReceived == processed - 4)
        var classes = CheckReport.IdempotencySummary.Classifications()
        classes.atLeastOnce = 1
        classes.idempotent = 3
        #expect(summary.operationsByClassification == classes)
        #expect(summary.findingsBySeverity == ["CRIT": 1, "HIGH": 1])  // SR-05, SR-01 (unkeyed)
    }

    /// One probe for every operation (as a run file gives it): `GET counter` never moves
    /// for an LPUSH, whose replies count the list growing by one each time. The replies
    /// win: LPUSH is at least once. HSET and SADD of what is already there answer 0 each
    /// time and change nothing: idempotent.
    @Test func aProbeThatReadsOtherStateDoesNotHideCountingReplies() async throws {
        let (report, _, _) = try await Self.check(
            [
                RESPTestMessage.command("LPUSH", "jobs", "job-1"),
                RESPTestMessage.command("HSET", "user", "name", "alice"),
                RESPTestMessage.command("SADD", "tags", "red"),
            ],
            probes: ["GET counter"]
        )
        let verdicts = Dictionary(uniqueKeysWithValues: (report.operations ?? []).map { ($0.operation, $0.classification) })
        #expect(verdicts == ["LPUSH": .atLeastOnce, "HSET": .idempotent, "SADD": .idempotent], "\(report.operations ?? [])")
        let sr01 = try #require(report.findings.first { $0.rule == "SR-01" && $0.operation == "LPUSH" })
        #expect(sr01.message.contains("the probe did not see it"), "\(sr01.message)")
        #expect(Set(report.findings.map(\.rule)) == ["SR-01", "SR-05"], "\(report.findings.map(\.message))")
        // The rules table gives an unkeyed operation's SR-01 its unkeyed severity, passed or not.
        #expect(report.rules.first { $0.id == "SR-01" && $0.operation == "HSET" }?.severity == .high)
    }
}
