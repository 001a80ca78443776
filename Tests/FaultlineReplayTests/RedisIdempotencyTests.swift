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
    @Test func incrIsAtLeastOnceAndSetIsIdempotent() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let log = try await RecordedLog.record(
            upstreamPort: redis.port,
            framing: .resp,
            requests: [
                RESPTestMessage.command("INCR", "visits"),
                RESPTestMessage.command("SET", "owner", "alice"),
                RESPTestMessage.command("SET", "lock", "holder-1", "NX"),
                RESPTestMessage.command("GET", "visits"),
            ],
            isComplete: RESPTestMessage.isComplete
        )
        defer { try? FileManager.default.removeItem(atPath: log) }
        let recorded = try RecordedRequests.load(path: log)
        #expect(recorded.requests.map(\.operation) == ["INCR", "SET", "SET NX", "GET"])
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: HostPort(host: "127.0.0.1", port: redis.port)))
        options.timeout = .seconds(60)  // a guard against hangs only: a loaded machine may answer slowly
        options.probes = ["GET visits", "GET owner", "GET lock"]
        let report = try await IdempotencyCheck(options: options, recorded: recorded, inputs: [log]).run()
        let verdicts = Dictionary(uniqueKeysWithValues: (report.operations ?? []).map { ($0.operation, $0) })
        #expect(verdicts["INCR"]?.classification == .atLeastOnce)
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
    }
}
