import FaultlineChecker
import FaultlineCore
import FaultlineFraming
import FaultlineReplay
import FaultlineTestSupport
import Foundation
import Testing

/// What replay could not judge is said, never passed over: a request the recording
/// proxy could not frame (F4), a target that answered only the probes (F5).
@Suite(.timeLimit(.minutes(1)))
struct UnreplayedRequestTests {
    static let small: FramingLimits = {
        var limits = FramingLimits()
        limits.maxMessageBytes = 1_024
        return limits
    }()

    /// A POST whose body is over the proxy's message limit fell back to raw and left no
    /// `message` event: its row says so, with the reason and the option to raise, and the
    /// operations count it inconclusive (the trial's report read "1 operation, no violations").
    @Test func aRequestTheProxyCouldNotFrameIsNamedInconclusive() async throws {
        let service = try await OrdersService.start()
        defer { Task { await service.stop() } }
        let report = try await OrdersReplay.check(
            service, style: OrdersService.Style(), requests: [OrdersReplay.counter(bodyBytes: 4_000), OrdersReplay.put()],
            probes: ["GET /counter"], limits: Self.small
        )
        let lost = try #require(report.operations?.first { $0.operation.hasPrefix("unframed request") }, "\(report.operations ?? [])")
        #expect(lost.classification == .inconclusive)
        #expect(lost.reason.contains("exceeds the 1024-byte message limit") && lost.reason.contains("--max-message-size"), "\(lost.reason)")
        #expect(lost.source?.contains(".jsonl:") == true)
        #expect(OrdersReplay.verdict(report, "PUT /items/{id}")?.classification == .idempotent)
        let summary = try #require(report.counts.idempotency)
        #expect(summary.operations == 2 && summary.operationsByClassification.inconclusive == 1, "\(summary)")
        #expect(report.notes.contains { $0.hasPrefix("Not replayed: 1 recorded connection") && $0.contains("--max-message-size") }, "\(report.notes)")
    }

    /// With --only, the operations are those it names: an unframed request has no name,
    /// so it is not a row (operations would exceed operations_recorded), only the note.
    @Test func onlyLeavesTheUnframedRowOutButKeepsTheNote() async throws {
        let service = try await OrdersService.start()
        defer { Task { await service.stop() } }
        let report = try await OrdersReplay.check(
            service, style: OrdersService.Style(), requests: [OrdersReplay.counter(bodyBytes: 4_000), OrdersReplay.put()],
            limits: Self.small, configure: { $0.only = ["PUT /items/{id}"] }
        )
        #expect(report.operations?.map(\.operation) == ["PUT /items/{id}"], "\(report.operations ?? [])")
        #expect(report.counts.idempotency?.operations == 1)
        #expect(report.notes.contains { $0.hasPrefix("Not replayed: 1 recorded connection") }, "\(report.notes)")
    }

    /// A log whose only request was lost is unusable, and the error says why.
    @Test func aLogWhoseEveryRequestWasLostNamesTheLimit() async throws {
        let service = try await OrdersService.start()
        defer { Task { await service.stop() } }
        let error = await #expect(throws: InvalidInputError.self) {
            _ = try await OrdersReplay.check(
                service, style: OrdersService.Style(), requests: [OrdersReplay.counter(bodyBytes: 4_000)], limits: Self.small
            )
        }
        #expect(error?.description.contains("--max-message-size") == true, "\(error?.description ?? "")")
    }

    /// The probe (a GET) is answered, every replayed request is not: that is a target
    /// that never answered (exit 3), not a run with "no violations".
    @Test func probesAloneAnsweringIsATargetThatNeverAnswered() async throws {
        let service = try await OrdersService.start()
        defer { Task { await service.stop() } }
        var style = OrdersService.Style()
        style.answerOnlyReads = true
        let error = await #expect(throws: RuntimeFailure.self) {
            _ = try await OrdersReplay.check(
                service, style: style, requests: [OrdersReplay.put(), OrdersReplay.counter()], probes: ["GET /counter"]
            ) { options in
                // Long enough that the probe is answered on a loaded machine (the full
                // suite, its tests in parallel on two cores, once took over 2 s); the
                // unanswered request costs it once.
                options.timeout = .seconds(10)
            }
        }
        #expect(error?.description.contains("never answered a replayed request") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("only the --probe reads were answered") == true, "\(error?.description ?? "")")
    }
}
