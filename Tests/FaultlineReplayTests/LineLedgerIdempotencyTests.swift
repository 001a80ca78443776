import FaultlineChecker
import FaultlineCore
import FaultlineReplay
import FaultlineTestSupport
import Foundation
import Testing

/// The demo's naive ledger protocol (`deposit N` per line): every repeat is applied.
/// The demo's own LedgerService cannot be started alone, so `LineLedgerServer` speaks
/// its protocol byte for byte.
@Suite(.timeLimit(.minutes(1)))
struct LineLedgerIdempotencyTests {
    static func report(probes: [String]) async throws -> CheckReport {
        let ledger = try await LineLedgerServer.start()
        defer { Task { await ledger.stop() } }
        let log = try await RecordedLog.record(
            upstreamPort: ledger.port, framing: .line, requests: [Array("deposit 10\n".utf8)],
            isComplete: { $0.last == UInt8(ascii: "\n") }
        )
        defer { try? FileManager.default.removeItem(atPath: log) }
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: HostPort(host: "127.0.0.1", port: ledger.port)))
        options.timeout = .seconds(60)  // a guard against hangs only: a loaded machine may answer slowly
        options.probes = probes
        return try await IdempotencyCheck(options: options, recorded: try RecordedRequests.load(path: log), inputs: [log]).run()
    }

    @Test func theNaiveLedgerIsAtLeastOnce() async throws {
        let report = try await Self.report(probes: ["deposit 0"])
        #expect(report.operations?.map(\.operation) == ["deposit"])
        #expect(report.operations?.first?.classification == .atLeastOnce)
        #expect(Set(report.findings.map(\.rule)) == ["SR-01", "SR-05"])
        #expect(report.rules.first { $0.id == "SR-04" }?.status == .notApplicable)
    }

    @Test func withoutAProbeTheMovingBalanceInTheRepliesGivesItAway() async throws {
        let report = try await Self.report(probes: [])
        #expect(report.operations?.first?.classification == .atLeastOnce)
        #expect(report.findings.contains { $0.rule == "SR-01" && $0.message.contains("numbers in the replies moved") })
    }
}
