import FaultlineCore
import Foundation
import Testing

@testable import FaultlineChecker

/// `--rules FILE`: what it can change, and where its mistakes are.
struct RuleSettingsTests {
    static let example = """
        faultline_rules: 1
        rules:
          CR-08: {enabled: false}
          CR-10: {max_attempts: 3, severity: HIGH}
          CR-19: {max_hold: 30s}
        operations:
          "POST /charges": money
          "POST /search": idempotent
          "deposit*": non_idempotent
        """

    @Test func theExampleFileReads() throws {
        let settings = try RuleSettings.parse(Self.example, file: "rules.yaml")
        #expect(!settings.isEnabled("CR-08"))
        #expect(settings.isEnabled("CR-01"))
        #expect(settings.threshold("CR-10", "max_attempts", default: 5) == 3)
        #expect(settings.severity("CR-10", default: .medium) == .high)
        #expect(settings.threshold("CR-19", "max_hold", default: 60e9) == 30e9)
        #expect(settings.tag(of: "POST /charges") == .money)
        #expect(settings.tag(of: "POST /search") == .idempotent)
        #expect(settings.tag(of: "deposit") == .nonIdempotent)
        #expect(settings.tag(of: "GET /charges") == nil)
    }

    static let mistakes: [(String, String)] = [
        ("faultline_rules: 1\nrules:\n  CR-99: {enabled: false}\n", "rules.yaml:3:3: unknown rule 'CR-99'"),
        ("faultline_rules: 1\nrules:\n  CR-10: {max_tries: 3}\n", "rules.yaml:3:11: unknown key 'max_tries' in rule CR-10"),
        ("faultline_rules: 1\nrules:\n  CR-10: {severity: SEVERE}\n", "rules.yaml:3:21: CR-10.severity must be one of INFO, LOW, MED, HIGH, CRIT"),
        ("faultline_rules: 1\nrules:\n  CR-19: {max_hold: 30}\n", "rules.yaml:3:21: CR-19.max_hold must be a duration"),
        ("faultline_rules: 1\nrules:\n  CR-10: {max_attempts: 0}\n", "rules.yaml:3:25: CR-10.max_attempts must be between 1 and 1000000, got 0"),
        ("faultline_rules: 1\noperations:\n  \"POST /x\": safe\n", "rules.yaml:3:14: operation 'POST /x' must be one of idempotent, non_idempotent, money"),
        ("faultline_rules: 2\n", "rules.yaml:1:18: unsupported rules format version 2"),
        ("rules: {}\n", "rules.yaml:1:1: a rules file (format version, 'faultline_rules: 1') needs 'faultline_rules'"),
        ("faultline_rules: 1\nrule: {}\n", "rules.yaml:2:1: unknown key 'rule' in a rules file (did you mean 'rules'?)"),
        ("faultline_rules: 1\nrules: [\n", "rules.yaml:3:1: not valid YAML"),
        ("", "rules.yaml:1:1: the file is empty"),
    ]

    @Test(arguments: Self.mistakes)
    func aMistakeIsReportedWhereItIs(text: String, expected: String) {
        do {
            _ = try RuleSettings.parse(text, file: "rules.yaml")
            Issue.record("no error for \(text)")
        } catch let error as RuleSettingsError {
            #expect(error.exitStatus == 2)
            #expect(error.description.hasPrefix(expected), "\(error.description)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func aMissingFileIsNamed() {
        #expect(throws: RuleSettingsError.self) { try RuleSettings.load(path: "/nonexistent/rules.yaml") }
        do {
            _ = try RuleSettings.load(path: "/nonexistent/rules.yaml")
        } catch {
            #expect("\(error)".contains("/nonexistent/rules.yaml"))
        }
    }

    @Test func aFileOnDiskReads() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-rules-\(UUID().uuidString).yaml").path
        try Self.example.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let settings = try RuleSettings.load(path: path)
        #expect(settings.file == path)
        #expect(settings.operations.count == 3)
    }

    /// A rules file larger than a profile may be is refused without reading it whole
    /// (a 40 MB file took 14 s and 1.4 GB).
    @Test func aHugeFileIsRefusedWithoutReadingItWhole() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-rules-\(UUID().uuidString).yaml").path
        try (Self.example + String(repeating: "# padding\n", count: 120_000)).write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: RuleSettingsError.self) { try RuleSettings.load(path: path) }
        #expect(error?.description.contains("the rules file is larger than 1 MiB") == true, "\(String(describing: error))")
    }

    @Test func globsMatchAsShellsDo() {
        #expect(RuleSettings.glob("deposit*", matches: "deposit"))
        #expect(RuleSettings.glob("POST /charges/*", matches: "POST /charges/{id}"))
        #expect(RuleSettings.glob("?ET *", matches: "GET /x"))
        #expect(!RuleSettings.glob("POST /charges", matches: "POST /charges/{id}"))
        #expect(RuleSettings.glob("*", matches: ""))
    }

    /// Turning a safety rule off, or lowering it, is allowed, and the report says so.
    @Test func relaxingASafetyRuleIsNoted() throws {
        let text = """
            faultline_rules: 1
            rules:
              CR-01: {enabled: false}
              CR-03: {severity: LOW}
              CR-15: {severity: LOW}
            operations:
              "POST /search": idempotent
            """
        let settings = try RuleSettings.parse(text, file: "rules.yaml")
        var log = SyntheticLog()
        log.logical(
            SyntheticLog.Request(key: nil), at: 1_000 * SyntheticLog.s, outcomes: [.replyLost(), .answered()], delays: { _ in 100 * SyntheticLog.ms }
        )
        let report = try log.check(RetryCheckOptions(settings: settings))
        #expect(report.findings.isEmpty, "\(report.digest)")
        #expect(report.status("CR-01") == .off)
        #expect(report.notes.contains("CR-01 turned off by rules.yaml: unsafe retries are not being checked (NONIDEMPOTENT_RETRY_NO_KEY)"), "\(report.notes)")
        #expect(report.notes.contains { $0.hasPrefix("CR-03 severity set to LOW by rules.yaml (default HIGH): a safety rule was lowered") }, "\(report.notes)")
        // CR-15's findings are INFO by default: LOW raises it, and the note says so.
        #expect(report.notes.contains("CR-15 severity set to LOW by rules.yaml (default INFO)"), "\(report.notes)")
        #expect(report.notes.contains { $0.contains("\"POST /search\" tagged idempotent") }, "\(report.notes)")
    }
}
