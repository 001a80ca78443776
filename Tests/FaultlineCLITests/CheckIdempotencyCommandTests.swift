import FaultlineTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `faultline check idempotency` as a user runs it: a log recorded by the real
/// `faultline proxy --framing http --record-payloads`, replayed by the built binary
/// against a deposit service on loopback.
@Suite(.timeLimit(.minutes(1)))
struct CheckIdempotencyCommandTests {
    static let deposit: [UInt8] = {
        let body = #"{"amount":10,"memo":"rent"}"#
        return Array(
            ("POST /accounts/1/deposits HTTP/1.1\r\nHost: bank.test\r\nContent-Type: application/json\r\n"
                + "Idempotency-Key: \"cli-key-1\"\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)").utf8
        )
    }()

    /// Records one keyed deposit through the real proxy into a log in a new directory.
    static func record(upstream port: Int, recordPayloads: Bool = true) async throws -> (directory: URL, log: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("check-idempotency-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let log = directory.appendingPathComponent("events.jsonl").path
        var arguments = ["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(port)", "--framing", "http", "--log", log]
        if recordPayloads { arguments.append("--record-payloads") }
        let proxy = try FaultlineBinary.start(arguments)
        guard let proxyPort = await proxy.listeningPort() else {
            proxy.signal(SIGKILL)
            _ = await proxy.exitStatus()
            let stderr = await proxy.completeStandardError()
            throw ProxyDidNotListen(stderr: stderr)
        }
        // 60 s guards against a hang only: at the start of a loaded run the deposit
        // service (in this process) once answered more than 10 s late.
        _ = try await SocketClient.call(port: proxyPort, request: Self.deposit, limit: .seconds(60), isComplete: HTTPTestMessage.isCompleteResponse)
        proxy.signal(SIGTERM)
        let status = await proxy.exitStatus()
        let stderr = await proxy.completeStandardError()
        #expect(status == 0, "the proxy exited \(status): \(stderr)")
        return (directory, log)
    }

    @Test func aDryRunPrintsTheRequestsAndSendsNone() async throws {
        let service = try await DepositService.start(.naive, work: .zero)
        defer { Task { await service.stop() } }
        let (directory, log) = try await Self.record(upstream: service.port)
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = service.received
        let result = try await FaultlineBinary.run([
            "check", "idempotency", log, "--target", "127.0.0.1:\(service.port)", "--probe", "GET /accounts/1", "--dry-run",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(service.received == before, "a dry run sent \(service.received - before) request(s)")
        #expect(result.stdout.contains("# SR-01 #1 → 127.0.0.1:\(service.port)"))
        #expect(result.stdout.contains("POST /accounts/1/deposits HTTP/1.1"))
        #expect(result.stdout.contains("# probe before SR-01"))
        #expect(result.stdout.contains("# SR-05 first attempt"))
        #expect(result.stderr.contains("nothing sent"))

        // With -o, the report goes there too (in --format), the requests stay on stdout.
        let file = directory.appendingPathComponent("dry.json").path
        let reported = try await FaultlineBinary.run([
            "check", "idempotency", log, "--target", "127.0.0.1:\(service.port)", "--dry-run", "--format", "json", "-o", file,
        ])
        #expect(reported.status == 0 && reported.stdout.contains("# SR-01 #1"), "\(reported.stderr)")
        let json = try String(contentsOfFile: file, encoding: .utf8)
        #expect(json.contains(#""requests_sent":0"#) || json.contains(#""requests_sent" : 0"#), "\(json.prefix(400))")
        #expect(service.received == before, "a dry run sent \(service.received - before) request(s)")
    }

    @Test func aServiceThatAppliesEveryDuplicateExitsOne() async throws {
        let service = try await DepositService.start(.naive, work: .zero)
        defer { Task { await service.stop() } }
        let (directory, log) = try await Self.record(upstream: service.port)
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try await FaultlineBinary.run([
            "check", "idempotency", log, "--target", "127.0.0.1:\(service.port)", "--probe", "GET /accounts/1", "--timeout", "60s",
        ])
        #expect(result.status == 1, "\(result.stderr)\n\(result.stdout)")
        #expect(result.stdout.contains("SR-01 DUP_CHANGES_STATE"))
        #expect(result.stdout.contains("SR-05 AMBIGUOUS_THEN_RETRY"))
        // Progress: one line per experiment on standard error.
        #expect(result.stderr.contains("faultline: SR-01 POST /accounts/{id}/deposits: failed"))
        // The text report's header says what replay did, in the words of replay.
        #expect(result.stdout.contains("""
            operations:  1 (0 idempotent, 0 deduplicated by key, 1 at-least-once, 0 inconclusive)
            sent:        12 replayed requests, 11 probe reads
            replies:     22 received, 1 dropped on purpose (SR-05), 0 unanswered
            """), "\(result.stdout)")
        #expect(!result.stdout.contains("retried"))
    }

    @Test func aLogWithoutPayloadsExitsTwoNamingRecordPayloads() async throws {
        let service = try await DepositService.start(.naive, work: .zero)
        defer { Task { await service.stop() } }
        let (directory, log) = try await Self.record(upstream: service.port, recordPayloads: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try await FaultlineBinary.run(["check", "idempotency", log, "--target", "127.0.0.1:\(service.port)", "--timeout", "60s"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--record-payloads"), "\(result.stderr)")
    }

    @Test func theJSONReportDecodesWithAClassificationPerOperation() async throws {
        let service = try await DepositService.start(.deduplicating, work: .zero)
        defer { Task { await service.stop() } }
        let (directory, log) = try await Self.record(upstream: service.port)
        defer { try? FileManager.default.removeItem(at: directory) }
        let recorded = service.received
        let result = try await FaultlineBinary.run([
            "check", "idempotency", log, "--target", "127.0.0.1:\(service.port)", "--probe", "GET /accounts/1", "--format", "json", "--timeout", "60s",
        ])
        #expect(result.status == 0, "\(result.stderr)\n\(result.stdout)")
        let report = try JSONDecoder().decode(IdempotencyReport.self, from: Data(result.stdout.utf8))
        #expect(report.check == "idempotency")
        #expect(report.findings.isEmpty)
        #expect(report.operations.map(\.operation) == ["POST /accounts/{id}/deposits"])
        #expect(report.operations.first?.classification == "deduplicated_by_key")
        #expect(report.rules.contains { $0.id == "SR-04" && $0.status == "passed" })
        // What was read, as the log has it: every event, and the recording proxy's seed.
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(report.summary.events == lines.count)
        let start = try #require(lines.first { $0.contains("\"proxy_start\"") })
        #expect(report.seeds.count == 1)
        #expect(start.contains("\"seed\":\(report.seeds.first ?? 0)"))
        // What replay did, as the service saw it: SR-01 3, SR-03 2, SR-04 5 and SR-05 2
        // requests, 11 probe reads around them; SR-05's first reply dropped on purpose.
        let summary = report.summary
        #expect(summary.requestsSent == 12 && summary.probeRequests == 11, "\(summary)")
        #expect(service.received - recorded == summary.requestsSent + summary.probeRequests)
        #expect(summary.repliesReceived == 22 && summary.repliesDropped == 1 && summary.unanswered == 0, "\(summary)")
        #expect(summary.operations == 1 && summary.operationsRecorded == 1)
        #expect(summary.operationsByClassification == ["idempotent": 0, "deduplicated_by_key": 1, "at_least_once": 0, "inconclusive": 0])
        // None of the retry check's counts: replay sees no retries, clients or faults.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let keys = Set(try #require(object["summary"] as? [String: Any]).keys)
        #expect(keys.isDisjoint(with: ["retried", "clients", "faults", "attempts", "logical_requests", "connections"]), "\(keys)")
    }
}

struct ProxyDidNotListen: Error, CustomStringConvertible {
    var stderr: String
    var description: String { "the proxy did not listen: \(self.stderr)" }
}

/// The parts of the JSON report (CheckReport, `snake_case`) these tests read.
struct IdempotencyReport: Decodable {
    struct Rule: Decodable {
        var id: String
        var status: String
        var operation: String?
    }

    struct Operation: Decodable {
        var operation: String
        var classification: String
        var failedRules: [String]

        enum CodingKeys: String, CodingKey {
            case operation, classification
            case failedRules = "failed_rules"
        }
    }

    struct Finding: Decodable {
        var rule: String
    }

    struct Summary: Decodable {
        var events: Int
        var operations: Int
        var operationsRecorded: Int
        var operationsByClassification: [String: Int]
        var requestsSent: Int
        var probeRequests: Int
        var repliesReceived: Int
        var repliesDropped: Int
        var unanswered: Int

        enum CodingKeys: String, CodingKey {
            case events, operations, unanswered
            case operationsRecorded = "operations_recorded"
            case operationsByClassification = "operations_by_classification"
            case requestsSent = "requests_sent"
            case probeRequests = "probe_requests"
            case repliesReceived = "replies_received"
            case repliesDropped = "replies_dropped"
        }
    }

    var check: String
    var seeds: [UInt64]
    var summary: Summary
    var rules: [Rule]
    var findings: [Finding]
    var operations: [Operation]
}
