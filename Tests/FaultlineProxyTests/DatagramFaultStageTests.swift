import FaultlineCore
import FaultlineTestSupport
import NIOCore
import NIOEmbedded
import Testing

@testable import FaultlineProxy

/// One direction's fault stage on an embedded loop: time moves only when the test says.
struct DatagramFaultStageTests {
    /// A stage whose sends land in `sent`.
    final class Harness {
        let loop = EmbeddedEventLoop()
        let events = MemoryEventSink()
        let plan: LivePlan
        var sent: [ByteBuffer] = []
        private(set) var stage: DatagramFaultStage?

        init(_ rules: [Rule], seed: UInt64 = 0) throws {
            self.plan = LivePlan(try udpPlan(rules, seed: seed))
            self.stage = DatagramFaultStage(
                plan: self.plan,
                session: 0,
                direction: .upstream,
                eventLoop: self.loop,
                events: self.events,
                proxyName: "test",
                send: { [unowned self] buffer in
                    self.sent.append(buffer)
                    return self.loop.makeSucceededFuture(())
                }
            )
        }

        func receive(_ numbers: some Sequence<UInt64>, size: Int = 32) {
            for number in numbers {
                self.stage?.receive(TestDatagram.numbered(number, size: size))
            }
        }

        var sentNumbers: [UInt64] {
            self.sent.compactMap(TestDatagram.number(of:))
        }

        var counters: DatagramCounters {
            self.stage?.counters ?? DatagramCounters()
        }

        func faults(_ action: String) -> [Event] {
            self.events.events.filter { $0.type == .fault && $0.action == action }
        }

        func advance(_ amount: TimeAmount) {
            self.loop.advanceTime(by: amount)
        }
    }

    /// The stage reads the time from its loop: a rule with a window drops only the
    /// datagrams that arrive inside it, counted from the session's opening.
    @Test func aWindowedRuleActsOnlyInsideItsWindow() throws {
        let harness = try Harness([
            Rule(name: "outage", fault: DatagramLossFault(), window: TimeWindow(after: .seconds(1), length: .seconds(1)))
        ])
        harness.receive(0..<2)
        harness.advance(.milliseconds(1500))
        harness.receive(2..<4)
        harness.advance(.seconds(1))
        harness.receive(4..<6)
        #expect(harness.sentNumbers == [0, 1, 4, 5])
        #expect(harness.faults("drop").map(\.unit) == [2, 3])
        #expect(harness.counters.balances)
    }

    @Test func reorderReleasesAHeldDatagramAfterTheNextN() throws {
        let harness = try Harness([
            Rule(name: "hold", match: .datagrams(1...1), fault: DatagramReorderFault(after: 2))
        ])
        harness.receive(0..<6)
        #expect(harness.sentNumbers == [0, 2, 3, 1, 4, 5])
        let held = try #require(harness.faults("reorder").first)
        #expect(held.rule == "hold" && held.kind == "reorder" && held.unit == 1 && held.params?["after"] == "2")
        let released = try #require(harness.faults("released").first)
        #expect(released.unit == 1 && released.params?["after_datagrams"] == "2" && released.params?["reason"] == "count")
        #expect(harness.counters.balances)
    }

    @Test func reorderReleasesAfterItsDelayWhenTrafficStops() throws {
        let harness = try Harness([
            Rule(
                name: "hold",
                match: .datagrams(0...0),
                fault: DatagramReorderFault(after: 5, delay: .milliseconds(50))
            )
        ])
        harness.receive(0..<2)
        #expect(harness.sentNumbers == [1])
        harness.advance(.milliseconds(49))
        #expect(harness.sentNumbers == [1])
        harness.advance(.milliseconds(1))
        #expect(harness.sentNumbers == [1, 0])
        #expect(harness.faults("released").first?.params?["reason"] == "delay")
        #expect(harness.faults("released").first?.params?["held_for"] == "50ms")
    }

    @Test func holdingEveryDatagramStillMakesProgress() throws {
        let harness = try Harness([Rule(name: "hold-all", fault: DatagramReorderFault(after: 1))])
        harness.receive(0..<5)
        // Each arrival releases the one before it; the last waits for its delay.
        #expect(harness.sentNumbers == [0, 1, 2, 3])
        harness.advance(.seconds(1))
        #expect(harness.sentNumbers == [0, 1, 2, 3, 4])
    }

    @Test func constantDelayKeepsOrderAndWaitsOnTheLoopClock() throws {
        let harness = try Harness([Rule(name: "late", fault: DelayFault(latency: .milliseconds(10)))])
        harness.receive(0..<3)
        harness.advance(.milliseconds(9))
        #expect(harness.sent.isEmpty)
        harness.advance(.milliseconds(1))
        #expect(harness.sentNumbers == [0, 1, 2])
        #expect(harness.faults("delay").map { $0.params?["delay"] } == Array(repeating: "10ms", count: 3))
    }

    @Test func jitterLargerThanTheGapReordersNaturally() throws {
        let rules = [
            Rule(name: "jitter", fault: DelayFault(latency: .milliseconds(20), jitter: .milliseconds(15)))
        ]
        let harness = try Harness(rules, seed: 11)
        for number in 0..<20 {
            harness.receive([UInt64(number)])
            harness.advance(.milliseconds(1))
        }
        harness.advance(.milliseconds(100))
        // The order the plan's draws predict: arrival time plus each datagram's delay.
        let faults = harness.plan.current.plan.connection(0, client: nil)
        let due = (0..<20).map { number -> (UInt64, Int64) in
            let decisions = faults.decideMessage(direction: .upstream, facts: MessageFacts(ordinal: UInt64(number)), sinceProxyStart: .zero, sinceOpen: .zero)
            let delay = DatagramFaultStage.Disposition(decisions).delay?.amount ?? .zero
            return (UInt64(number), Int64(number) * 1_000_000 + delay.nanoseconds)
        }
        let expected = due.sorted { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.map(\.0)
        #expect(harness.sentNumbers == expected)
        #expect(harness.sentNumbers != Array(0..<20))
        #expect(Set(harness.sentNumbers) == Set(0..<20))
    }

    @Test func duplicateSendsCopiesAtTheGap() throws {
        let harness = try Harness([
            Rule(name: "echoes", fault: DatagramDuplicateFault(copies: 2, gap: .milliseconds(10)))
        ])
        harness.receive([7])
        #expect(harness.sentNumbers == [7])
        harness.advance(.milliseconds(10))
        #expect(harness.sentNumbers == [7, 7])
        harness.advance(.milliseconds(10))
        #expect(harness.sentNumbers == [7, 7, 7])
        #expect(harness.counters.datagramsDuplicated == 2 && harness.counters.datagramsOut == 3)
        #expect(harness.counters.balances)
        #expect(harness.faults("duplicate").first?.params == ["copies": "2", "gap": "10ms"])
    }

    @Test func rateQueuesUpToItsBoundThenDrops() throws {
        let harness = try Harness([
            Rule(
                name: "narrow",
                fault: DatagramRateFault(DatagramRate(packetsPerSecond: 10, burst: 1, excess: .queue, queueLimit: 2))
            )
        ])
        harness.receive(0..<5)
        #expect(harness.sentNumbers == [0])
        #expect(harness.faults("queue").map(\.unit) == [1, 2])
        #expect(harness.faults("drop").map(\.unit) == [3, 4])
        #expect(harness.faults("drop").allSatisfy { $0.kind == "rate" })
        harness.advance(.milliseconds(100))
        #expect(harness.sentNumbers == [0, 1])
        harness.advance(.milliseconds(100))
        #expect(harness.sentNumbers == [0, 1, 2])
        #expect(harness.counters.datagramsIn == 5 && harness.counters.datagramsOut == 3 && harness.counters.datagramsDropped == 2)
        #expect(harness.counters.balances)
        #expect(harness.stage?.isIdle == true)
    }

    @Test func byteRateDropsWhatTheBucketCannotPay() throws {
        let harness = try Harness([
            Rule(name: "thin", fault: DatagramRateFault(DatagramRate(bytesPerSecond: 1000, burst: 100)))
        ])
        harness.receive(0..<5, size: 32)
        #expect(harness.sentNumbers == [0, 1, 2])
        harness.advance(.milliseconds(32))
        harness.receive(5..<6, size: 32)
        #expect(harness.sentNumbers == [0, 1, 2, 5])
        #expect(harness.counters.bytesDropped == 64)
    }

    @Test func corruptFlipsExactlyTheBitsItReports() throws {
        let harness = try Harness([Rule(name: "flip", fault: DatagramCorruptFault(rate: 0.02))], seed: 4)
        for number in 0..<20 {
            let original = TestDatagram.numbered(UInt64(number), size: 64)
            harness.stage?.receive(original)
            let arrived = try #require(harness.sent.last)
            #expect(arrived.readableBytes == 64)
            #expect(arrived != original)
            let distance = zip(original.readableBytesView, arrived.readableBytesView)
                .reduce(0) { $0 + ($1.0 ^ $1.1).nonzeroBitCount }
            #expect(harness.faults("corrupt").last?.params?["bits"] == "\(distance)")
        }
    }

    @Test func lossIsCountedAndLoggedByOrdinal() throws {
        let harness = try Harness([Rule(name: "lose", probability: 0.5, fault: DatagramLossFault())], seed: 2)
        harness.receive(0..<100)
        let dropped = harness.faults("drop").compactMap(\.unit)
        #expect(Set(harness.sentNumbers).isDisjoint(with: dropped))
        #expect(harness.sent.count + dropped.count == 100)
        #expect(harness.counters.datagramsDropped == dropped.count && harness.counters.balances)
    }

    @Test func flushSendsEverythingStillWaitingAndBalances() throws {
        let harness = try Harness([
            Rule(name: "hold", match: .datagrams(0...0), fault: DatagramReorderFault(after: 10)),
            Rule(name: "late", match: .datagrams(1...3), fault: DelayFault(latency: .seconds(1))),
            Rule(name: "queue", fault: DatagramRateFault(DatagramRate(packetsPerSecond: 1, burst: 1, excess: .queue))),
        ])
        harness.receive(0..<6)
        // 4 goes through the bucket, 5 queues; 0 is held, 1-3 delayed.
        #expect(harness.sentNumbers == [4])
        var idle = false
        harness.stage?.flush { idle = true }
        #expect(idle)
        #expect(harness.sentNumbers == [4, 0, 1, 2, 3, 5])
        #expect(harness.counters.datagramsOut == 6 && harness.counters.balances)
        #expect(harness.faults("released").first?.params?["reason"] == "close")
        // Timers cancelled: moving time sends nothing twice.
        harness.advance(.seconds(5))
        #expect(harness.sent.count == 6)
    }

    /// The proxy closing the session itself discards what waits, each datagram (and a
    /// copy still to come) counted as dropped, so the books still balance.
    @Test func discardDropsEverythingStillWaitingAndBalances() throws {
        let harness = try Harness([
            Rule(name: "hold", match: .datagrams(0...0), fault: DatagramReorderFault(after: 10)),
            Rule(name: "late", match: .datagrams(1...3), fault: DelayFault(latency: .seconds(1))),
            Rule(name: "again", match: .datagrams(6...6), fault: DatagramDuplicateFault(copies: 1, gap: .seconds(1))),
            Rule(name: "queue", fault: DatagramRateFault(DatagramRate(packetsPerSecond: 1, burst: 1, excess: .queue))),
        ])
        harness.receive(0..<7)
        // 4 goes through the bucket; 5 and 6 queue, 6's copy waits for its gap; 0 is
        // held; 1-3 are delayed.
        #expect(harness.sentNumbers == [4])
        var idle = false
        harness.stage?.discard { idle = true }
        #expect(idle)
        let counters = harness.counters
        #expect(counters.datagramsOut == 1 && counters.datagramsDuplicated == 1, "\(counters)")
        #expect(counters.datagramsDropped == 7 && counters.bytesDropped == 7 * 32, "\(counters)")
        #expect(counters.balances)
        #expect(harness.faults("released").isEmpty, "discarded, not released")
        // Timers cancelled: moving time sends nothing.
        harness.advance(.seconds(5))
        #expect(harness.sentNumbers == [4])
    }

    static func disposition(_ rules: [Rule]) throws -> DatagramFaultStage.Disposition {
        let faults = try udpPlan(rules, seed: 0).connection(0, client: nil)
        return DatagramFaultStage.Disposition(
            faults.decideMessage(direction: .upstream, facts: MessageFacts(ordinal: 0), sinceProxyStart: .zero, sinceOpen: .zero)
        )
    }

    @Test func aLostDatagramHasNoOtherEffect() throws {
        let disposition = try Self.disposition([Rule(name: "dup", fault: DatagramDuplicateFault()), Rule(name: "lose", fault: DatagramLossFault())])
        #expect(disposition.drop?.rule == "lose")
        #expect(disposition.duplicate == nil)
    }

    @Test func theFirstRuleOfAKindWins() throws {
        let disposition = try Self.disposition([
            Rule(name: "short", fault: DelayFault(latency: .milliseconds(5))),
            Rule(name: "long", fault: DelayFault(latency: .milliseconds(500))),
        ])
        #expect(disposition.delay?.decision.rule == "short" && disposition.delay?.amount == .milliseconds(5))
    }

    /// A plan change reaches the stage's next datagram; a rate rule kept across it
    /// keeps its bucket and queue, so what waited still leaves at the rate.
    @Test func aPlanChangeKeepsTheStateOfARuleItKeeps() throws {
        let narrow = Rule(name: "narrow", fault: DatagramRateFault(DatagramRate(packetsPerSecond: 10, burst: 1, excess: .queue, queueLimit: 8)))
        let harness = try Harness([narrow])
        harness.receive(0..<3)
        #expect(harness.sentNumbers == [0])
        harness.plan.replace(with: try udpProfile([Rule(name: "first-lost", match: .datagrams(3...3), fault: DatagramLossFault()), narrow]).forDatagrams())
        harness.receive(3..<5)
        #expect(harness.faults("drop").map { "\($0.rule ?? "") \($0.unit ?? 99) plan \($0.plan ?? 0)" } == ["first-lost 3 plan 2"])
        #expect(harness.faults("queue").map(\.plan) == [1, 1, 2])
        harness.advance(.milliseconds(300))
        #expect(harness.sentNumbers == [0, 1, 2, 4])
        #expect(harness.counters.balances)
    }
}
