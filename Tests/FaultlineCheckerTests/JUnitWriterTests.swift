import FaultlineChecker
import FaultlineTestSupport
import Foundation
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

struct JUnitWriterTests {
    /// What the XML holds, as a CI system's parser sees it.
    final class Counter: NSObject, XMLParserDelegate {
        var elements: [String: Int] = [:]
        var attributes: [String: [[String: String]]] = [:]
        var text: [String: String] = [:]
        private var stack: [String] = []

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            self.elements[name, default: 0] += 1
            self.attributes[name, default: []].append(attributes)
            self.stack.append(name)
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            self.stack.removeLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if let top = self.stack.last { self.text[top, default: ""] += string }
        }
    }

    static func parse(_ xml: String) throws -> Counter {
        let parser = XMLParser(data: Data(xml.utf8))
        let counter = Counter()
        parser.delegate = counter
        let ok = parser.parse()
        #expect(ok, "XMLParser: \(String(describing: parser.parserError)) in\n\(xml)")
        try #require(ok)
        return counter
    }

    @Test func countsMatchTheRuleResults() throws {
        let xml = ReportWriter.write(ReportFixtures.realistic(), as: .junit)
        #expect(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultline check retries\" "))
        let parsed = try Self.parse(xml)
        #expect(parsed.elements["testsuites"] == 1)
        // CR-01, CR-03, CR-06, CR-07, CR-08, CR-10, CR-13, CR-22.
        #expect(parsed.elements["testsuite"] == 8)
        #expect(parsed.elements["testcase"] == 11)
        // CR-01 POST /charges, CR-06 GET /balance, CR-08 twice; CR-22 is INFO: never a failure.
        #expect(parsed.elements["failure"] == 4)
        #expect(parsed.elements["skipped"] == 3)
        #expect(parsed.elements["system-out"] == 1)
        let root = try #require(parsed.attributes["testsuites"]?.first)
        #expect(root["tests"] == "11")
        #expect(root["failures"] == "4")
        #expect(root["skipped"] == "3")
        let suites = parsed.attributes["testsuite"] ?? []
        #expect(suites.first?["name"] == "CR-01 NONIDEMPOTENT_RETRY_NO_KEY")
        #expect(suites.first?["tests"] == "2")
        #expect(suites.first?["failures"] == "1")
        let cases = parsed.attributes["testcase"] ?? []
        #expect(cases.first?["classname"] == "faultline.retries.CR-01")
        #expect(cases.first?["name"] == "POST /charges")
        #expect(cases.contains { $0["classname"] == "faultline.retries.CR-03" && $0["name"] == "all" })
        let failure = try #require(parsed.attributes["failure"]?.first)
        #expect(failure["type"] == "HIGH")
        #expect(failure["message"]?.hasPrefix("POST /charges was sent 3 times") == true)
        #expect(parsed.text["failure"]?.contains("HIGH CR-01 NONIDEMPOTENT_RETRY_NO_KEY — POST /charges (10.0.0.5)") == true)
        #expect(parsed.text["failure"]?.contains("2        3.154s  answered   201") == true)
        let skipped = parsed.attributes["skipped"]?.map { $0["message"] ?? "" } ?? []
        #expect(skipped.contains("not enough evidence: 2 requests with 3 or more retries (needs 10)"))
        #expect(skipped.contains("off (turned off by --rules)"))
    }

    @Test func aFailureOnlyHoldsItsOwnOperationsFindings() throws {
        let xml = ReportWriter.write(ReportFixtures.realistic(), as: .junit)
        let parsed = try Self.parse(xml)
        let failures = parsed.attributes["failure"] ?? []
        #expect(failures.map { $0["message"] ?? "" }.filter { $0.hasPrefix("Retry delays before attempt 1") }.count == 2)
        #expect(failures.map { $0["type"] ?? "" } == ["HIGH", "MED", "MED", "MED"])
    }

    /// A noted rule (findings, all INFO, as `check retries` writes CR-22 by default)
    /// passes with its findings in `<system-out>`: INFO never fails a build, and it is
    /// not skipped either (the rule found something).
    @Test func aNotedRulePassesWithItsFindings() throws {
        var report = ReportFixtures.realistic()
        let index = try #require(report.rules.firstIndex { $0.id == "CR-22" })
        report.rules[index].status = .noted
        let parsed = try Self.parse(ReportWriter.write(report, as: .junit))
        #expect(parsed.elements["failure"] == 4)
        #expect(parsed.elements["skipped"] == 3)
        #expect(parsed.elements["system-out"] == 1)
        #expect(parsed.text["system-out"]?.contains("INFO CR-22 DUPLICATE_SUBMISSION") == true, "\(parsed.text)")
    }

    @Test func violationsWithoutARuleResultStillFail() throws {
        var report = ReportFixtures.realistic()
        report.rules = []
        let parsed = try Self.parse(ReportWriter.write(report, as: .junit))
        // CR-01, CR-06, CR-08 x2 (two operations); the INFO finding is not a failure.
        #expect(parsed.elements["testcase"] == 4)
        #expect(parsed.elements["failure"] == 4)
    }

    @Test func hostileTextIsEscaped() async throws {
        let xml = ReportWriter.write(ReportFixtures.hostile(), as: .junit)
        #expect(!xml.contains("<script>"))
        #expect(!xml.contains("\u{1B}"))
        #expect(!xml.contains("\u{1}"))
        #expect(!xml.contains("\u{FFFE}"))
        let parsed = try Self.parse(xml)
        let names = parsed.attributes["testcase"]?.map { $0["name"] ?? "" } ?? []
        #expect(names.contains("POST /x<script>alert('x')</script>&\"[31m"))
        #expect(parsed.text["failure"]?.contains("cut & retried <b>twice</b> \"quoted\" 'single'") == true)
        try await Self.pythonParses(xml)
    }

    @Test func idempotencyFailuresCarryTheExchanges() throws {
        let xml = ReportWriter.write(ReportFixtures.idempotency(), as: .junit)
        #expect(xml.contains("<testsuites name=\"faultline check idempotency\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""))
        #expect(xml.contains("<testcase classname=\"faultline.idempotency.SR-01\" name=\"POST /accounts/{id}/deposits\""))
        let parsed = try Self.parse(xml)
        #expect(parsed.attributes["failure"]?.first?["type"] == "CRIT")
        #expect(parsed.text["failure"]?.contains("SR-01 #2            POST /accounts/1/deposits HTTP/1.1  201 {\"id\":8}") == true)
    }

    @Test func pythonElementTreeParsesIt() async throws {
        try await Self.pythonParses(ReportWriter.write(ReportFixtures.realistic(), as: .junit))
    }

    /// A second, stricter parser (expat), where python3 is installed.
    static func pythonParses(_ xml: String) async throws {
        let python = "/usr/bin/python3"
        try #require(FileManager.default.isExecutableFile(atPath: python), "python3 comes with make test-deps")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-junit-\(UUID().uuidString).xml")
        try Data(xml.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await ChildProcess.run(
            URL(fileURLWithPath: python),
            ["-c", "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(len(r.findall('testsuite/testcase')))",
             file.path]
        )
        #expect(result.status == 0, "python3: \(result.stdout)\(result.stderr)")
    }
}
