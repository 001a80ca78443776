import FaultlineCore
import FaultlineTestSupport
import NIOCore
import NIOEmbedded
import Testing

@testable import FaultlineProxy

/// A plan change that removes or changes a `delay` or `rate` rule lets go of the
/// datagrams the rule holds, as TCP's pacing stage does: they leave at once, in the
/// order they were due, each logged as a `released` fault event (`reason:
/// plan_change`, `held_for`); a rule kept as it was keeps holding. On an embedded loop,
/// so "at once" means before the clock moves at all.
struct DatagramPlanReleaseTests {
    typealias Harness = DatagramFaultStageTests.Harness

    /// Puts `rules` in force on the harness's plan and tells the stage, as the session
    /// table does for every open session.
    static func change(_ harness: Harness, to rules: [Rule]) throws {
        harness.plan.replace(with: try udpProfile(rules, name: "changed").forDatagrams())
        harness.stage?.planChanged()
    }

    @Test func aDelayRemovedReleasesWhatItHoldsAtOnceInOrder() throws {
        let harness = try Harness([Rule(name: "late", fault: DelayFault(latency: .seconds(60)))])
        harness.receive(0..<3)
        harness.advance(.seconds(1))
        #expect(harness.sent.isEmpty)
        try Self.change(harness, to: [])
        #expect(harness.sentNumbers == [0, 1, 2])
        let released = harness.faults("released")
        #expect(released.map(\.unit) == [0, 1, 2])
        #expect(
            released.allSatisfy {
                $0.rule == "late" && $0.kind == "delay" && $0.plan == 1 && $0.bytes == 32 && $0.params?["reason"] == "plan_change"
                    && $0.params?["held_for"] == "1s" && $0.params?["delay"] == "1m"
            },
            "\(released)"
        )
        #expect(harness.faults("delay").count == 3)
        #expect(harness.counters.datagramsOut == 3 && harness.counters.balances)
        // The timers are gone: nothing leaves twice when the delay would have ended.
        harness.advance(.seconds(120))
        #expect(harness.sent.count == 3)
        // The next datagram follows the plan in force: no delay.
        harness.receive(3..<4)
        #expect(harness.sentNumbers == [0, 1, 2, 3])
        #expect(harness.stage?.isIdle == true)
    }

    /// A delay whose parameters changed is a rule that ended too: what it held goes,
    /// and the next datagram waits the new delay.
    @Test func aDelayChangedReleasesWhatItHeld() throws {
        let harness = try Harness([Rule(name: "late", fault: DelayFault(latency: .seconds(60)))])
        harness.receive(0..<1)
        try Self.change(harness, to: [Rule(name: "late", fault: DelayFault(latency: .seconds(2)))])
        #expect(harness.sentNumbers == [0])
        harness.receive(1..<2)
        harness.advance(.milliseconds(1999))
        #expect(harness.sentNumbers == [0])
        harness.advance(.milliseconds(1))
        #expect(harness.sentNumbers == [0, 1])
        #expect(harness.faults("released").map { "\($0.unit ?? 99) plan \($0.plan ?? 0)" } == ["0 plan 1"])
        #expect(harness.faults("delay").map { "\($0.unit ?? 99) plan \($0.plan ?? 0) \($0.params?["delay"] ?? "")" } == ["0 plan 1 1m", "1 plan 2 2s"])
    }

    /// Only what an ended rule holds goes: a delay kept as it was keeps holding, and a
    /// change that ends no rule releases nothing.
    @Test func aDelayKeptKeepsHolding() throws {
        let long = Rule(name: "long", match: .datagrams(0...0), fault: DelayFault(latency: .seconds(60)))
        let short = Rule(name: "short", match: .datagrams(1...1), fault: DelayFault(latency: .seconds(30)))
        let harness = try Harness([long, short])
        harness.receive(0..<2)
        try Self.change(harness, to: [short, long])
        #expect(harness.sent.isEmpty, "both rules kept: nothing released")
        try Self.change(harness, to: [short])
        #expect(harness.sentNumbers == [0])
        harness.advance(.milliseconds(29_999))
        #expect(harness.sentNumbers == [0])
        harness.advance(.milliseconds(1))
        #expect(harness.sentNumbers == [0, 1])
        #expect(harness.faults("released").map(\.rule) == ["long"])
        #expect(harness.counters.balances)
    }

    /// A rate rule removed sends its queue at once, each queued datagram released.
    @Test func aRateRemovedSendsItsQueue() throws {
        let harness = try Harness([
            Rule(name: "narrow", fault: DatagramRateFault(DatagramRate(packetsPerSecond: 1, burst: 1, excess: .queue)))
        ])
        harness.receive(0..<4)
        #expect(harness.sentNumbers == [0])
        harness.advance(.milliseconds(500))
        try Self.change(harness, to: [])
        #expect(harness.sentNumbers == [0, 1, 2, 3])
        let released = harness.faults("released")
        #expect(released.map(\.unit) == [1, 2, 3])
        #expect(released.allSatisfy { $0.rule == "narrow" && $0.params?["reason"] == "plan_change" && $0.params?["held_for"] == "500ms" })
        harness.advance(.seconds(5))
        #expect(harness.sent.count == 4)
        #expect(harness.counters.datagramsOut == 4 && harness.counters.balances)
    }

    /// A rule gone does nothing more to what is still held: a datagram a reorder holds
    /// is not delayed afterwards by a delay rule the change removed, and a datagram a
    /// removed delay lets go of does not queue at a rate rule removed with it.
    @Test func aRuleGoneActsNoMoreOnWhatIsStillHeld() throws {
        let hold = Rule(name: "hold", match: .datagrams(0...0), fault: DatagramReorderFault(after: 5))
        let harness = try Harness([
            hold,
            Rule(name: "late", fault: DelayFault(latency: .seconds(60))),
            Rule(name: "narrow", fault: DatagramRateFault(DatagramRate(packetsPerSecond: 1, burst: 1, excess: .queue))),
        ])
        harness.receive(0..<3)
        #expect(harness.sent.isEmpty)
        // The reorder stays; the delay and the rate go.
        try Self.change(harness, to: [hold])
        #expect(harness.sentNumbers == [1, 2])
        // The fifth datagram after 0 lets it go: at once, no delay, no queue.
        harness.receive(3..<6)
        #expect(harness.sentNumbers == [1, 2, 3, 4, 5, 0])
        #expect(harness.faults("delay").map(\.unit) == [1, 2])
        #expect(harness.faults("released").map { "\($0.rule ?? "") \($0.params?["reason"] ?? "")" } == ["late plan_change", "late plan_change", "hold count"])
        #expect(harness.faults("queue").isEmpty)
        harness.advance(.seconds(120))
        #expect(harness.sent.count == 6 && harness.counters.balances)
    }

    /// The stage follows a change it was not told of on its next datagram, and still
    /// lets go of what an ended rule holds (a datagram can arrive before the session
    /// table hears of the change).
    @Test func aChangeSeenFirstByADatagramStillReleases() throws {
        let harness = try Harness([Rule(name: "late", match: .datagrams(0...0), fault: DelayFault(latency: .seconds(60)))])
        harness.receive(0..<1)
        harness.plan.replace(with: try udpProfile([], name: "calm").forDatagrams())
        harness.receive(1..<2)
        #expect(harness.sentNumbers == [0, 1])
        harness.stage?.planChanged()
        #expect(harness.sentNumbers == [0, 1])
        #expect(harness.faults("released").map(\.unit) == [0])
    }

    /// A datagram that sees the change first and lets a reorder's hold go sends it free
    /// of the rules the change ended: not delayed by a delay removed meanwhile.
    @Test func aHoldLetGoByTheFirstDatagramAfterAChangeIsFreeOfEndedRules() throws {
        let hold = Rule(name: "hold", match: .datagrams(0...0), fault: DatagramReorderFault(after: 1))
        let harness = try Harness([hold, Rule(name: "late", match: .datagrams(0...0), fault: DelayFault(latency: .seconds(60)))])
        harness.receive(0..<1)
        harness.plan.replace(with: try udpProfile([hold], name: "calm").forDatagrams())
        harness.receive(1..<2)
        #expect(harness.sentNumbers == [1, 0])
        #expect(harness.faults("delay").isEmpty)
        #expect(harness.counters.balances)
    }
}
