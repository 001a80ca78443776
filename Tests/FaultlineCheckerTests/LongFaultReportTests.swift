import FaultlineCore
import Testing

@testable import FaultlineChecker

/// A fault held for millions of hours (a log's `params.delay` of 2400000h, near the
/// longest duration Int64 nanoseconds hold) is drawn on the HTML timeline: its ticks
/// stopped at Int64.max by trapping (SIGILL) while text, JSON and JUnit were fine.
struct LongFaultReportTests {
    @Test(arguments: [2_400_000, 2_562_047] as [UInt64])
    func aFaultOfMillionsOfHoursDrawsItsTimeline(hours: UInt64) throws {
        var log = SyntheticLog()
        let request = SyntheticLog.Request(method: "POST", path: "/orders", key: nil, fingerprint: "fp-o")
        log.attempt(request, at: 1_000 * SyntheticLog.s, .slowReply(delay: hours * 3_600 * SyntheticLog.s, timeout: SyntheticLog.s))
        let report = try log.check()
        for format in [ReportFormat.text, .json, .junit, .html] {
            let text = ReportWriter.write(report, as: format)
            #expect(!text.isEmpty)
        }
        let html = ReportWriter.write(report, as: .html)
        #expect(html.hasSuffix("</html>\n"))
        #expect(html.contains(">0s<"))
    }

    @Test func ticksStopBeforeInt64Overflows() {
        let ticks = HTMLTimeline.ticks(upTo: .max)
        #expect(ticks.count == 11)
        #expect(ticks == ticks.sorted())
        #expect(ticks.last.map { $0 <= .max } == true)
    }
}
