import FaultlineTestSupport
import Foundation
import Testing

/// A log with no events (what a proxy that never started, or was killed before it
/// wrote, leaves) is nothing to judge: the checker and `log summary` say so and exit 2,
/// never "no violations" or "balanced".
@Suite(.timeLimit(.minutes(1)))
struct EmptyLogTests {
    static let empties: [(name: String, text: String)] = [("0 bytes", ""), ("blank lines", "\n\n\n")]

    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("empty-log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    @Test(arguments: empties)
    func checkRetriesSaysThereIsNothingToJudge(name: String, text: String) async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("empty.jsonl").path
        try text.write(toFile: log, atomically: true, encoding: .utf8)
        let result = try await FaultlineBinary.run(["check", "retries", log])
        #expect(result.status == 2, "\(name): \(result)")
        #expect(result.stderr.contains("\(log): the log is empty: no events to judge"), "\(name): \(result.stderr)")
        #expect(!result.stdout.contains("no violations"), "\(name): \(result.stdout)")

        let junit = folder.appendingPathComponent("report.xml").path
        let report = try await FaultlineBinary.run(["check", "retries", log, "--format", "junit", "-o", junit])
        #expect(report.status == 2, "\(name): \(report)")
        #expect(!FileManager.default.fileExists(atPath: junit), "\(name): an all-skipped report would pass CI")
    }

    @Test func oneEmptyLogAmongOthersIsNamed() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let good = folder.appendingPathComponent("good.jsonl").path
        try (LogSummaryExitTests.start + "\n").write(toFile: good, atomically: true, encoding: .utf8)
        let empty = folder.appendingPathComponent("empty.jsonl").path
        try "".write(toFile: empty, atomically: true, encoding: .utf8)
        let result = try await FaultlineBinary.run(["check", "retries", good, empty])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("\(empty): the log is empty"), "\(result.stderr)")
    }

    @Test(arguments: empties)
    func logSummarySaysTheLogIsEmpty(name: String, text: String) async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("empty.jsonl").path
        try text.write(toFile: log, atomically: true, encoding: .utf8)
        let result = try await FaultlineBinary.run(["log", "summary", log])
        #expect(result.status == 2, "\(name): \(result)")
        #expect(result.stderr.contains("\(log): the log is empty"), "\(name): \(result.stderr)")
        #expect(!result.stdout.contains("balanced"), "\(name): \(result.stdout)")
    }
}
