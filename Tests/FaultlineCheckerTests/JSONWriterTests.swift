import FaultlineChecker
import Foundation
import Testing

struct JSONWriterTests {
    @Test(arguments: ["realistic", "hostile", "large", "empty", "idempotency"])
    func decodingTheJSONGivesAnEqualReport(fixture: String) throws {
        let report = switch fixture {
        case "realistic": ReportFixtures.realistic()
        case "hostile": ReportFixtures.hostile()
        case "large": ReportFixtures.large(requests: 2_000)
        case "idempotency": ReportFixtures.idempotency()
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
