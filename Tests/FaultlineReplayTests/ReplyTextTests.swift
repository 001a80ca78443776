import FaultlineChecker
import FaultlineTestSupport
import Testing

@testable import FaultlineReplay

/// Bytes from a service reach evidence and progress lines in one rendering, `\xNN`,
/// never raw (F6, F7).
@Suite(.timeLimit(.minutes(1)))
struct ReplyTextTests {
    @Test func aBinaryBodyIsShownAsRequestRowsShowBytes() {
        let reply = ReplayReply(bytes: [], status: 200, headers: [], body: [0x1B, 0x5B, 0x33, 0x31, 0x6D, 0xFF, 0x41, 0x0D, 0x0A])
        let view = ReplyView(reply, wire: .http, ignoring: [])
        #expect(view.shown == "\\x1B[31m\\xFFA")
        #expect(!view.shown.contains("\u{FFFD}"))
        #expect(ByteText.escapingControls("a\u{1B}b\u{07}c\nd") == "a\\x1Bb\\x07c\\nd")
    }

    /// A probe whose reply carries ESC and BEL: no progress line holds a control byte,
    /// and the evidence shows them as `\x1B`, `\x07`.
    @Test func controlBytesInAReplyNeverReachProgressLinesRaw() async throws {
        let service = try await OrdersService.start()
        defer { Task { await service.stop() } }
        let progress = PrintedLines()
        let report = try await OrdersReplay.check(
            service, style: OrdersService.Style(), requests: [OrdersReplay.counter()], probes: ["GET /banner"], progress: progress
        )
        let lines = progress.lines
        #expect(!lines.isEmpty)
        #expect(!lines.contains { $0.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } }, "\(lines)")
        #expect(lines.contains { $0.contains("\\x1B[31mRED\\x1B[0m\\x07\\x7F") }, "\(lines)")
        #expect(report.rules.contains { $0.evidence.contains("\\x1B[31mRED") })
    }

    /// RESP DEL: 1, then 0, 0. Not "a clock": the first request counted, the repeats found
    /// nothing, as an idempotent delete answers; still no verdict without a probe.
    @Test func aDeletesRepliesAreNotCalledAClock() {
        #expect(OperationExperiment.firstCountedThenNone([[1], [0], [0]]))
        #expect(!OperationExperiment.firstCountedThenNone([[11_496_449], [11_496_450], [11_496_450]]))
        #expect(!OperationExperiment.firstCountedThenNone([[1], [0], [1]]))
        #expect(!OperationExperiment.firstCountedThenNone([[1], [0]]))
    }
}
