import FaultlineTestSupport
import Foundation
import Testing

/// `faultline log summary`'s exit status: 1 when the accounting check finds violations,
/// as every check's; 0 for a log that says it lost events, which cannot be checked.
@Suite(.timeLimit(.minutes(1)))
struct LogSummaryExitTests {
    static let time = #""time":"2026-12-06T00:00:00.000Z""#
    static let start = #"{"v":1,"type":"proxy_start","proxy":"p","seed":7,\#(time)}"#
    static let open = #"{"v":1,"type":"conn_open","proxy":"p","conn":0,"mono":1,\#(time)}"#
    static func close(fromClient: Int, toUpstream: Int) -> String {
        #"{"v":1,"type":"conn_close","proxy":"p","conn":0,"mono":5,"reason":"closed","bytes_from_client":\#(fromClient),"#
            + #""bytes_to_upstream":\#(toUpstream),"bytes_from_upstream":3,"bytes_to_client":3,\#(time)}"#
    }
    static let lost = #"{"v":1,"type":"log_dropped","count":4,\#(time)}"#

    static func summary(of lines: [String]) async throws -> ChildProcess.Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("log-summary-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("run.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        return try await FaultlineBinary.run(["log", "summary", log])
    }

    @Test func balancedBooksExitZero() async throws {
        let result = try await Self.summary(of: [Self.start, Self.open, Self.close(fromClient: 10, toUpstream: 10)])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("accounting:   balanced"), "\(result.stdout)")
    }

    @Test func unbalancedBooksExitOne() async throws {
        let result = try await Self.summary(of: [Self.start, Self.open, Self.close(fromClient: 10, toUpstream: 5)])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("accounting:   1 violation:"), "\(result.stdout)")
        #expect(
            result.stdout.contains("proxy p conn 0 upstream: received 10 bytes but forwarded 5 and dropped 0: 5 bytes unaccounted"),
            "\(result.stdout)"
        )
    }

    /// An error quoting a line of the log never passes its control bytes to the
    /// terminal: a line with an escape sequence set the window's title and colours.
    @Test func anErrorQuotingTheLogEscapesItsControlBytes() async throws {
        let result = try await Self.summary(of: [Self.start, "\u{1B}]0;pwned\u{07}\u{1B}[31mred"])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains(#"not a JSON object: '\x1B]0;pwned\x07\x1B[31mred'"#), "\(result.stderr)")
        #expect(!result.stderr.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 })
    }

    /// A proxy killed or still running: its open connections were never accounted.
    @Test func aConnectionNeverClosedExitsOne() async throws {
        let result = try await Self.summary(of: [Self.start, Self.open])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("proxy p conn 0: opened but never closed"), "\(result.stdout)")
    }

    /// Lost events may be the missing conn_close: the books are shown, not called violated.
    @Test(arguments: [false, true])
    func aLogThatLostEventsIsNotCalledViolated(neverClosed: Bool) async throws {
        let lines = neverClosed ? [Self.start, Self.open, Self.lost] : [Self.start, Self.open, Self.close(fromClient: 10, toUpstream: 5), Self.lost]
        let result = try await Self.summary(of: lines)
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("WARNING: the log says 4 events were not written (log_dropped)"), "\(result.stdout)")
        #expect(result.stdout.contains("accounting:   not checked, as the log lost events; as read, 1 entry out of balance:"), "\(result.stdout)")
        #expect(!result.stdout.contains("violation"), "\(result.stdout)")
    }
}
