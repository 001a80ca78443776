import FaultlineChecker
import FaultlineCore
import FaultlineReplay
import FaultlineTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

/// `check idempotency` against HTTP services written for the test, each mishandling
/// (or handling) idempotency keys in one way, replayed from logs recorded for real.
@Suite(.timeLimit(.minutes(1)))
struct IdempotencyCheckTests {
    static let post = "POST /accounts/{id}/deposits"
    static let get = "GET /accounts/{id}"

    /// Records `requests` (a keyed deposit and a read) against `service`, then replays them.
    static func check(
        _ service: DepositService,
        requests: [[UInt8]] = [RecordedLog.deposit(key: "client-key-1"), RecordedLog.read()],
        probes: [String] = ["GET /accounts/1"],
        configure: (inout IdempotencyCheckOptions) -> Void = { _ in }
    ) async throws -> CheckReport {
        let log = try await RecordedLog.record(
            upstreamPort: service.port,
            framing: .http,
            requests: requests,
            isComplete: HTTPTestMessage.isCompleteResponse
        )
        defer { try? FileManager.default.removeItem(atPath: log) }
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: HostPort(host: "127.0.0.1", port: service.port)))
        options.timeout = .seconds(60)  // a guard against hangs only: a loaded machine may answer slowly
        options.probes = probes
        configure(&options)
        let recorded = try RecordedRequests.load(path: log)
        return try await IdempotencyCheck(options: options, recorded: recorded, inputs: [log]).run()
    }

    static func failedRules(_ report: CheckReport, _ operation: String) -> Set<String> {
        Set(report.rules.filter { $0.operation == operation && $0.status == .failed }.map(\.id))
    }

    static func verdict(_ report: CheckReport, _ operation: String) -> CheckReport.OperationVerdict? {
        report.operations?.first { $0.operation == operation }
    }

    @Test func aServiceThatExecutesEveryRequestIsAtLeastOnce() async throws {
        let service = try await DepositService.start(.naive, work: .zero)
        defer { Task { await service.stop() } }
        let report = try await Self.check(service)
        let failed = Self.failedRules(report, Self.post)
        #expect(failed.contains("SR-01"))
        #expect(failed.contains("SR-05"))
        #expect(Self.verdict(report, Self.post)?.classification == .atLeastOnce)
        #expect(Self.verdict(report, Self.get)?.classification == .idempotent)
        #expect(report.hasViolations)
        let sr01 = try #require(report.findings.first { $0.rule == "SR-01" })
        #expect(sr01.severity == .critical)
        #expect(sr01.exchanges?.count == 3)
        #expect(sr01.message.contains("3 effects"))

        // The summary counts what replay did, as the service saw it (after the 2 recorded
        // requests). The keyed deposit: SR-01 3, SR-03 2, SR-04 5, SR-05 2 requests, each
        // experiment probed before and after (SR-01, SR-03 and SR-05 also between): 11
        // probe reads. The unkeyed read: SR-01 3 and SR-05 2 requests, 6 probe reads.
        let summary = try #require(report.counts.idempotency, "\(report.counts)")
        #expect(summary.requestsSent == 12 + 5)
        #expect(summary.probeRequests == 11 + 6)
        #expect(service.received == 2 + summary.requestsSent + summary.probeRequests)
        // SR-05 drops one reply per operation on purpose; every other request is answered.
        #expect(summary.repliesDropped == 2)
        #expect(summary.unanswered == 0)
        #expect(summary.repliesReceived == summary.requestsSent + summary.probeRequests - 2)
        #expect(summary.operations == 2 && summary.operationsRecorded == 2)
        #expect(summary.operationsByClassification.atLeastOnce == 1 && summary.operationsByClassification.idempotent == 1)
        #expect(summary.operationsByClassification.deduplicatedByKey == 0 && summary.operationsByClassification.inconclusive == 0)
        #expect(summary.findingsBySeverity == Dictionary(grouping: report.findings, by: \.severity.rawValue).mapValues(\.count))
        #expect(report.notes.contains { $0.contains("17 request(s) and 17 probe read(s), each on a new connection; 32 replies received, 2 dropped on purpose") })
    }

    /// A safe GET whose reply carries a clock (an uptime that moves by whatever time
    /// passed) is no evidence of a repeated effect: without a probe it is inconclusive,
    /// never at least once.
    @Test func aClockInTheReplyIsNotAnEffect() async throws {
        let service = try await DepositService.start(.naive, work: .zero)
        defer { Task { await service.stop() } }
        let report = try await Self.check(service, requests: [Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)], probes: [])
        #expect(report.findings.isEmpty, "\(report.findings.map(\.message))")
        #expect(Self.verdict(report, "GET /health")?.classification == .inconclusive, "\(report.operations ?? [])")
        let sr01 = try #require(report.rules.first { $0.id == "SR-01" })
        #expect(sr01.status == .notEnoughEvidence && sr01.evidence.contains("unevenly"), "\(sr01.evidence)")
        // Nor do SR-05's two replies, with no step from SR-01 to measure them by.
        let sr05 = try #require(report.rules.first { $0.id == "SR-05" })
        #expect(sr05.status == .notEnoughEvidence, "\(sr05.evidence)")
    }

    @Test func aServiceThatDeduplicatesByKeyIsClean() async throws {
        let service = try await DepositService.start(.deduplicating)
        defer { Task { await service.stop() } }
        let report = try await Self.check(service)
        #expect(report.findings.isEmpty, "\(report.findings.map(\.message))")
        #expect(!report.hasViolations)
        #expect(Self.verdict(report, Self.post)?.classification == .deduplicatedByKey)
        #expect(Self.verdict(report, Self.get)?.classification == .idempotent)
        let passed = Set(report.rules.filter { $0.operation == Self.post && $0.status == .passed }.map(\.id))
        #expect(passed == ["SR-01", "SR-02", "SR-03", "SR-04", "SR-05"])
    }

    @Test func aServiceThatRacesUnderConcurrencyFailsSR04Only() async throws {
        let service = try await DepositService.start(.racing)
        defer { Task { await service.stop() } }
        let report = try await Self.check(service)
        #expect(Self.failedRules(report, Self.post) == ["SR-04"])
        #expect(Set(report.findings.map(\.rule)) == ["SR-04"])
        #expect(report.findings.first?.severity == .critical)
        #expect(Self.verdict(report, Self.post)?.classification == .atLeastOnce)
    }

    @Test func aServiceThatIgnoresAChangedPayloadFailsSR03() async throws {
        let service = try await DepositService.start(.ignoresPayload)
        defer { Task { await service.stop() } }
        let report = try await Self.check(service)
        #expect(Set(report.findings.map(\.rule)) == ["SR-03"])
        let finding = try #require(report.findings.first)
        #expect(finding.severity == .medium)
        #expect(finding.message.contains("amount 10 → 11"))
        #expect(Self.verdict(report, Self.post)?.classification == .deduplicatedByKey)
    }

    @Test func withoutAProbeTheRepliesStillShowDuplicatesAndTheReportSaysItIsWeaker() async throws {
        let service = try await DepositService.start(.naive, work: .zero)
        defer { Task { await service.stop() } }
        let report = try await Self.check(service, probes: [])
        #expect(Self.failedRules(report, Self.post).contains("SR-01"))
        let sr01 = try #require(report.rules.first { $0.id == "SR-01" && $0.operation == Self.post })
        #expect(sr01.evidence.contains("no probe"))
        #expect(report.notes.contains { $0.contains("No --probe") && $0.contains("weaker") })
        #expect(Self.verdict(report, Self.post)?.probed == false)
    }

    @Test func semanticModeComparesTheStatusClassAndTheResource() async throws {
        let service = try await DepositService.start(.naive, work: .zero)
        defer { Task { await service.stop() } }
        let report = try await Self.check(service) { $0.mode = .semantic; $0.only = [Self.post] }
        let sr02 = try #require(report.rules.first { $0.id == "SR-02" })
        #expect(sr02.status == .failed)
        #expect(sr02.evidence.contains("resource 2 then 3"), "\(sr02.evidence)")
        #expect(sr02.evidence.hasSuffix("(semantic)"))
    }

    @Test func aRequestThatFailsWhenReplayedIsInconclusiveNotIdempotent() async throws {
        let service = try await DepositService.start(.deduplicating, work: .zero)
        defer { Task { await service.stop() } }
        let missing = Array("GET /nowhere/1 HTTP/1.1\r\nHost: bank.test\r\n\r\n".utf8)
        let log = try await RecordedLog.record(
            upstreamPort: service.port, framing: .http, requests: [missing], isComplete: HTTPTestMessage.isCompleteResponse
        )
        defer { try? FileManager.default.removeItem(atPath: log) }
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: HostPort(host: "127.0.0.1", port: service.port)))
        options.timeout = .seconds(60)  // a guard against hangs only: a loaded machine may answer slowly
        options.probes = ["GET /accounts/1"]
        let report = try await IdempotencyCheck(options: options, recorded: try RecordedRequests.load(path: log), inputs: [log]).run()
        let verdict = try #require(report.operations?.first)
        #expect(verdict.classification == .inconclusive)
        #expect(verdict.reason.contains("404"))
        #expect(!report.hasViolations)
    }

    @Test func aKeyRequiredOperationMustRejectARequestWithoutItsKey() async throws {
        let service = try await DepositService.start(.deduplicating, work: .zero)
        defer { Task { await service.stop() } }
        let report = try await Self.check(service) { $0.keyRequired = [Self.post]; $0.only = [Self.post] }
        let sr07 = try #require(report.rules.first { $0.id == "SR-07" })
        #expect(sr07.status == .failed)
        #expect(report.findings.first { $0.rule == "SR-07" }?.severity == .low)
        #expect(report.operations?.map(\.operation) == [Self.post])
    }

    @Test func aDryRunPrintsEveryRequestAndSendsNone() async throws {
        let service = try await DepositService.start(.naive, work: .zero)
        defer { Task { await service.stop() } }
        let log = try await RecordedLog.record(
            upstreamPort: service.port, framing: .http, requests: [RecordedLog.deposit(key: "k")],
            isComplete: HTTPTestMessage.isCompleteResponse
        )
        defer { try? FileManager.default.removeItem(atPath: log) }
        let before = service.received
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: HostPort(host: "127.0.0.1", port: service.port)))
        options.timeout = .seconds(60)  // a guard against hangs only: a loaded machine may answer slowly
        options.dryRun = true
        options.probes = ["GET /accounts/1"]
        let printed = PrintedLines()
        let report = try await IdempotencyCheck(
            options: options, recorded: try RecordedRequests.load(path: log), inputs: [log], plan: { printed.append($0) }
        ).run()
        #expect(service.received == before)
        let summary = try #require(report.counts.idempotency)
        #expect(summary.requestsSent == 0 && summary.probeRequests == 0 && summary.repliesReceived == 0 && summary.repliesDropped == 0)
        #expect(summary.operations == 1 && summary.operationsByClassification.inconclusive == 1)
        let lines = printed.lines
        #expect(lines.contains { $0.hasPrefix("# SR-01 #1") && $0.contains("POST /accounts/1/deposits HTTP/1.1") })
        #expect(lines.contains { $0.hasPrefix("# SR-04 conn 5/5") })
        #expect(lines.contains { $0.hasPrefix("# SR-05 first attempt") })
        #expect(lines.contains { $0.hasPrefix("# probe before SR-01") && $0.contains("GET /accounts/1 HTTP/1.1") })
        // Each experiment its own key: SR-01's and SR-04's differ.
        let keys = Set(lines.compactMap { line in line.split(separator: "\n").first { $0.hasPrefix("Idempotency-Key:") } })
        #expect(keys.count >= 4)
    }

    @Test func aTargetThatNeverAnswersEndsTheRunInsteadOfHanging() async throws {
        let silent = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, _ in
                for try await _ in inbound {}
            }
        }
        defer { Task { await silent.stop() } }
        let service = try await DepositService.start(.naive, work: .zero)
        defer { Task { await service.stop() } }
        let log = try await RecordedLog.record(
            upstreamPort: service.port, framing: .http, requests: [RecordedLog.deposit(key: "k")],
            isComplete: HTTPTestMessage.isCompleteResponse
        )
        defer { try? FileManager.default.removeItem(atPath: log) }
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: HostPort(host: "127.0.0.1", port: silent.port)))
        // Long enough that a loaded machine still connects within it (the connect
        // shares the timeout), so the run ends for the reason under test.
        options.timeout = .seconds(2)
        let progress = PrintedLines()
        await #expect(throws: RuntimeFailure.self) {
            _ = try await IdempotencyCheck(
                options: options, recorded: try RecordedRequests.load(path: log), inputs: [log], progress: { progress.append($0) }
            ).run()
        }
        #expect(progress.lines.contains { $0.contains("timeout") && $0.contains("no reply within 2s") })
    }
}

extension IdempotencyCheckTests {
    /// A target that answers its first few requests, then goes silent: the run ends at
    /// the first timeout with the verdicts it had, instead of hanging.
    @Test func aTargetThatStopsAnsweringEndsTheRunWithWhatWasFound() async throws {
        let answered = Mutex(0)
        let fading = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                var seen: [UInt8] = []
                for try await chunk in inbound {
                    seen += chunk.readableBytesView
                    guard String(decoding: seen, as: UTF8.self).contains("\r\n\r\n") else { continue }
                    let answer = answered.withLock { count -> Bool in
                        count += 1
                        return count <= 4
                    }
                    if answer {
                        let body = #"{"id":1,"balance":100}"#
                        try await outbound.write(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"))
                    }
                    seen = []
                }
            }
        }
        defer { Task { await fading.stop() } }
        let service = try await DepositService.start(.naive, work: .zero)
        defer { Task { await service.stop() } }
        let log = try await RecordedLog.record(
            upstreamPort: service.port, framing: .http, requests: [RecordedLog.read(), RecordedLog.deposit(key: "k")],
            isComplete: HTTPTestMessage.isCompleteResponse
        )
        defer { try? FileManager.default.removeItem(atPath: log) }
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: HostPort(host: "127.0.0.1", port: fading.port)))
        // Long enough that an answered request is never taken for silence on a loaded
        // machine (2 s was not, with both cores busy); the silent one costs this once.
        options.timeout = .seconds(10)
        let progress = PrintedLines()
        let report = try await IdempotencyCheck(
            options: options, recorded: try RecordedRequests.load(path: log), inputs: [log], progress: { progress.append($0) }
        ).run()
        #expect(progress.lines.contains { $0.contains("timeout") && $0.contains("ending the run with what was found") })
        #expect(report.notes.contains { $0.contains("stopped answering") })
        // GET: SR-01 (3 replies) was judged before the silence; the deposit was never tried.
        #expect(report.rules.first { $0.id == "SR-01" && $0.operation == Self.get }?.status == .passed)
        #expect(Self.verdict(report, Self.get)?.classification == .inconclusive)
        #expect(Self.verdict(report, Self.post)?.reason.contains("not replayed") == true)
        #expect(report.rules.filter { $0.operation == Self.post }.allSatisfy { $0.status == .notEnoughEvidence })
        // GET's SR-01 got 3 answers; SR-05's first attempt the 4th, which replay's proxy
        // dropped on purpose; its retry none. The deposit sent nothing.
        let summary = try #require(report.counts.idempotency)
        #expect(summary.requestsSent == 5 && summary.probeRequests == 0, "\(summary)")
        #expect(summary.repliesReceived == 3 && summary.repliesDropped == 1 && summary.unanswered == 1, "\(summary)")
        #expect(answered.withLock { $0 } == 5)
        #expect(summary.operations == 2 && summary.operationsByClassification.inconclusive == 2)
    }
}

/// Lines a closure printed, collected across tasks.
final class PrintedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []

    func append(_ line: String) {
        self.lock.withLock { self.stored.append(line) }
    }

    var lines: [String] {
        self.lock.withLock { self.stored }
    }
}
