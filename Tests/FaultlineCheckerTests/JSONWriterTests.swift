import FaultlineChecker
import Foundation
import Testing

struct JSONWriterTests {
    @Test(arguments: ["realistic", "hostile", "large", "empty", "idempotency", "empty idempotency"])
    func decodingTheJSONGivesAnEqualReport(fixture: String) throws {
        let report = switch fixture {
        case "realistic": ReportFixtures.realistic()
        case "hostile": ReportFixtures.hostile()
        case "large": ReportFixtures.large(requests: 2_000)
        case "idempotency": ReportFixtures.idempotency()
        case "empty idempotency": CheckReport(check: "idempotency", inputs: [], origin: 0)
        default: CheckReport(check: "retries", inputs: [], origin: 0)
        }
        let json = ReportWriter.write(report, as: .json)
        let decoded = try JSONReportWriter.decoder().decode(CheckReport.self, from: Data(json.utf8))
        #expect(decoded == report)
    }

    @Test func keysAreTheSchemaSortedAndPrettyPrinted() {
        let json = ReportWriter.write(ReportFixtures.realistic(), as: .json)
        #expect(json.hasPrefix("{\n  \"check\" : \"retries\",\n  \"clients\" : [\n"))
        #expect(json.hasSuffix("}\n"))
        #expect(json.contains("\"schema_version\" : 1"))
        #expect(json.contains("\"logical_requests\" : 50"))
        #expect(json.contains("\"findings_by_severity\" : {\n      \"HIGH\" : 1,\n      \"INFO\" : 1,\n      \"MED\" : 3\n    }"))
        #expect(json.contains("\"operation\" : \"POST /charges\""))
        #expect(json.contains("\"status\" : \"not_enough_evidence\""))
        #expect(json.contains("\"outcome\" : \"answered_by_proxy\""))
        #expect(json.contains("\"origin\" : 8123456789012345"))
        let keys = ["check", "clients", "findings", "inputs", "notes", "origin", "rules", "schema_version", "seeds",
                    "summary", "timeline"]
        let positions = keys.compactMap { json.range(of: "\n  \"\($0)\" : ")?.lowerBound }
        #expect(positions.count == keys.count)
        #expect(positions == positions.sorted())
    }

    @Test func retriesReportsHaveNoOperationsKey() {
        #expect(!ReportWriter.write(ReportFixtures.realistic(), as: .json).contains("\"operations\""))
        #expect(ReportWriter.write(ReportFixtures.idempotency(), as: .json).contains("\"classification\" : \"at_least_once\""))
    }

    static let retrySummaryKeys: Set<String> = [
        "events", "connections", "attempts", "logical_requests", "retried", "clients", "faults", "findings_by_severity",
    ]

    static func summary(_ report: CheckReport) throws -> [String: Any] {
        let json = ReportWriter.write(report, as: .json)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        return try #require(object["summary"] as? [String: Any])
    }

    /// Each check's summary has its own counts only: a retries report none of replay's,
    /// an idempotency report none of the retry check's (it sends requests; it sees no
    /// retries, clients or injected faults).
    @Test func eachCheckHasItsOwnSummary() throws {
        #expect(Set(try Self.summary(ReportFixtures.realistic()).keys) == Self.retrySummaryKeys)
        #expect(Set(try Self.summary(CheckReport(check: "retries", inputs: [], origin: 0)).keys) == Self.retrySummaryKeys)
        let replay = try Self.summary(ReportFixtures.idempotency())
        #expect(Set(replay.keys) == [
            "events", "operations_recorded", "operations", "operations_by_classification", "requests_sent", "probe_requests",
            "replies_received", "replies_dropped", "unanswered", "findings_by_severity",
        ])
        #expect(replay["requests_sent"] as? Int == 12)
        #expect(replay["probe_requests"] as? Int == 9)
        #expect(replay["replies_received"] as? Int == 18)
        #expect(replay["replies_dropped"] as? Int == 2)
        #expect(replay["unanswered"] as? Int == 1)
        let classes = try #require(replay["operations_by_classification"] as? [String: Int])
        #expect(classes == ["idempotent": 1, "deduplicated_by_key": 0, "at_least_once": 1, "inconclusive": 1])
        // The classes are the operations' own spellings, every one of them, zeros too.
        #expect(Set(classes.keys) == Set(CheckReport.OperationVerdict.Classification.allCases.map(\.rawValue)))
        // A report made for the idempotency check starts with its counts, zero.
        let empty = try Self.summary(CheckReport(check: "idempotency", inputs: [], origin: 0))
        #expect(Set(empty.keys) == Set(replay.keys) && empty["requests_sent"] as? Int == 0)
    }

    /// The retry check's summary, as docs/checker.md documents it, byte for byte.
    @Test func theRetrySummaryIsWrittenAsDocumented() {
        let json = ReportWriter.write(ReportFixtures.realistic(), as: .json)
        #expect(json.contains("""
              "summary" : {
                "attempts" : 65,
                "clients" : 2,
                "connections" : 61,
                "events" : 1742,
                "faults" : 16,
                "findings_by_severity" : {
                  "HIGH" : 1,
                  "INFO" : 1,
                  "MED" : 3
                },
                "logical_requests" : 50,
                "retried" : 9
              },
            """))
    }

    @Test func theDocumentIsOneJSONObject() throws {
        let json = ReportWriter.write(ReportFixtures.realistic(), as: .json)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(object?["check"] as? String == "retries")
        #expect((object?["findings"] as? [Any])?.count == 5)
    }

    @Test func nonFiniteNumbersAreWrittenAsStringsAndReadBack() throws {
        var report = ReportFixtures.realistic()
        report.clients[0].growth = .infinity
        report.clients[1].jitterCV = .nan
        let json = ReportWriter.write(report, as: .json)
        #expect(json.contains("\"growth\" : \"inf\""))
        #expect(json.contains("\"jitter_cv\" : \"nan\""))
        let decoded = try JSONReportWriter.decoder().decode(CheckReport.self, from: Data(json.utf8))
        #expect(decoded.clients[0].growth == .infinity)
        #expect(decoded.clients[1].jitterCV?.isNaN == true)
    }
}
