import FaultlineCore
import Testing

/// The pure side of UDP faults: datagram rules are rules of the one engine, decided per
/// datagram (`ConnectionFaults.decideMessage`), keyed by position, never by time.
struct DatagramDecisionTests {
    static func plan(_ rules: String, seed: UInt64, extra: String = "") throws -> FaultPlan {
        let text = "faultline: 1\nname: p\ndescription: udp plan test\ntransport: udp\n" + extra + "rules:\n" + rules
        return FaultPlan(profile: try ProfileLoader(library: []).load(text: text, file: "p.yaml"), seed: seed)
    }

    /// One session and direction's datagrams, decided in order as a UDP stage decides
    /// them (chained rules' state kept between datagrams).
    struct Track {
        var faults: ConnectionFaults
        var chains = ChainStates()
        let direction: Event.Direction
        var next: UInt64 = 0

        init(_ plan: FaultPlan, session: UInt64 = 0, direction: Event.Direction = .upstream, client: String? = nil) {
            self.faults = plan.connection(session, client: client)
            self.direction = direction
        }

        mutating func decide(proxy: Duration = .zero, session: Duration = .zero) -> [FaultDecision] {
            defer { self.next += 1 }
            return self.faults.decideMessage(
                direction: self.direction,
                facts: MessageFacts(ordinal: self.next),
                sinceProxyStart: proxy,
                sinceOpen: session,
                chains: &self.chains
            )
        }
    }

    /// Which ordinals of `count` datagrams the plan drops.
    static func dropped(_ plan: FaultPlan, count: Int, session: UInt64 = 0, direction: Event.Direction = .upstream) -> [UInt64] {
        var track = Track(plan, session: session, direction: direction)
        return (0..<count).compactMap { _ in
            let ordinal = track.next
            return track.decide().contains { $0.effect == .datagram(.drop) } ? ordinal : nil
        }
    }

    static func lossPlan(_ probability: Double, seed: UInt64) throws -> FaultPlan {
        try Self.plan("  - {name: lose, probability: \(probability), fault: {kind: loss}}\n", seed: seed)
    }

    @Test func independentLossIsNearItsRateAndTheSameForTheSameSeed() throws {
        let first = Self.dropped(try Self.lossPlan(0.2, seed: 42), count: 10_000)
        let again = Self.dropped(try Self.lossPlan(0.2, seed: 42), count: 10_000)
        let otherSeed = Self.dropped(try Self.lossPlan(0.2, seed: 43), count: 10_000)
        #expect((1800...2200).contains(first.count))
        #expect(first == again)
        #expect(first != otherSeed)
    }

    @Test func directionsAndSessionsDrawIndependently() throws {
        let plan = try Self.lossPlan(0.5, seed: 7)
        let up = Self.dropped(plan, count: 200, direction: .upstream)
        let down = Self.dropped(plan, count: 200, direction: .downstream)
        let otherSession = Self.dropped(plan, count: 200, session: 1)
        #expect(up != down)
        #expect(up != otherSession)
    }

    /// Removing rule A leaves rule B's decisions identical for the same seed: keys come
    /// from rule names and positions, never from a rule's index.
    @Test func removingOneRuleLeavesTheOthersDecisionsAlone() throws {
        let a = "  - {name: a, probability: 0.3, fault: {kind: duplicate}}\n"
        let b = "  - {name: b, probability: 0.2, fault: {kind: loss}}\n"
        let c = "  - {name: c, probability: 0.4, fault: {kind: delay, latency: 10ms, jitter: 5ms}}\n"
        func decisions(_ rules: String) throws -> [String] {
            var track = Track(try Self.plan(rules, seed: 11), session: 3, direction: .downstream)
            return (0..<500).flatMap { _ in
                track.decide().filter { $0.rule != "a" }.map { "\($0.unit ?? 0) \($0.rule) \($0.action) \($0.params["delay"] ?? "")" }
            }
        }
        let all = try decisions(a + b + c)
        #expect(all.count > 100)
        #expect(try decisions(b + c) == all)
        // In another order, each rule still draws what it drew.
        for rule in [" b ", " c "] {
            #expect(try decisions(c + a + b).filter { $0.contains(rule) } == all.filter { $0.contains(rule) })
        }
    }

    /// A window gates a rule by time since the proxy started (or the session opened);
    /// the schedule's phase gates it too; outside them every datagram passes.
    @Test func windowsAndTheScheduleGateRulesByTime() throws {
        let windowed = try Self.plan(
            """
              - {name: early, window: {from: proxy, after: 1s, for: 1s}, fault: {kind: loss}}
              - {name: settled, window: {from: connection, after: 10s}, fault: {kind: loss}}

            """,
            seed: 3
        )
        func lost(_ plan: FaultPlan, proxy: Duration, session: Duration) -> String? {
            var track = Track(plan)
            return track.decide(proxy: proxy, session: session).first { $0.effect == .datagram(.drop) }?.rule
        }
        #expect(lost(windowed, proxy: .milliseconds(999), session: .zero) == nil)
        #expect(lost(windowed, proxy: .milliseconds(1000), session: .zero) == "early")
        #expect(lost(windowed, proxy: .milliseconds(2000), session: .seconds(9)) == nil)
        #expect(lost(windowed, proxy: .seconds(30), session: .seconds(10)) == "settled")

        let scheduled = try Self.plan(
            "  - {name: storm, fault: {kind: loss}}\n",
            seed: 3,
            extra: "schedule:\n  phases:\n    - {name: calm, duration: 10s, rules: []}\n    - {name: storm, duration: 5s, rules: [storm]}\n  repeat: true\n"
        )
        #expect(lost(scheduled, proxy: .seconds(9), session: .zero) == nil)
        #expect(lost(scheduled, proxy: .seconds(12), session: .zero) == "storm")
        #expect(lost(scheduled, proxy: .seconds(16), session: .zero) == nil)
        #expect(lost(scheduled, proxy: .seconds(27), session: .zero) == "storm")
    }

    /// `match.client` selects sessions by their client's address, once per session.
    @Test func theClientMatchSelectsSessionsByAddress() throws {
        let plan = try Self.plan("  - {name: far, match: {client: 10.0.0.0/8}, fault: {kind: loss}}\n", seed: 5)
        var far = Track(plan, session: 0, client: "10.9.8.7:53000")
        var near = Track(plan, session: 1, client: "127.0.0.1:53000")
        var unknown = Track(plan, session: 2)
        #expect(far.decide().map(\.rule) == ["far"])
        #expect(near.decide().isEmpty)
        #expect(unknown.decide().isEmpty)
    }

    @Test func ruleDirectionAndMatchLimitWhatARuleSees() throws {
        let plan = try Self.plan("  - {name: first-reply, match: {direction: downstream, message: {first: 1}}, fault: {kind: loss}}\n", seed: 1)
        #expect(Self.dropped(plan, count: 5, direction: .upstream) == [])
        #expect(Self.dropped(plan, count: 5, direction: .downstream) == [0])
    }

    /// Mean length of runs of consecutive dropped ordinals.
    static func meanBurst(_ dropped: [UInt64]) -> Double {
        guard !dropped.isEmpty else { return 0 }
        var bursts = 1
        for (previous, next) in zip(dropped, dropped.dropFirst()) where next != previous + 1 {
            bursts += 1
        }
        return Double(dropped.count) / Double(bursts)
    }

    static let bursty = "  - {name: bursty, fault: {kind: loss, model: gilbert_elliott, p: 0.05, r: 0.3}}\n"

    @Test func gilbertElliottLossComesInBurstsDeterministically() throws {
        let bursty = Self.dropped(try Self.plan(Self.bursty, seed: 9), count: 10_000)
        let again = Self.dropped(try Self.plan(Self.bursty, seed: 9), count: 10_000)
        #expect(bursty == again)
        // Stationary loss p / (p + r) ≈ 14%; bursts average 1 / r ≈ 3.3 datagrams.
        let rate = Double(bursty.count) / 10_000
        #expect(rate > 0.10 && rate < 0.19)
        #expect(Self.meanBurst(bursty) > 2.5)
        // Independent loss at the same rate barely makes bursts at all.
        let independent = Self.dropped(try Self.lossPlan(rate, seed: 9), count: 10_000)
        #expect(Self.meanBurst(independent) < 1.3)
    }

    @Test func gilbertElliottLossInTheGoodStateAlsoDrops() throws {
        let rule = "  - {name: noisy, fault: {kind: loss, model: gilbert_elliott, p: 0, r: 1, loss_good: 0.1, loss_bad: 1}}\n"
        let dropped = Self.dropped(try Self.plan(rule, seed: 3), count: 10_000)
        // Never leaves the good state: plain 10% loss.
        #expect((800...1200).contains(dropped.count))
    }

    /// A plan change re-arms the rules; a chain the new plan keeps goes on where it
    /// was, so its losses are those of a plan never changed.
    @Test func aChainKeptAcrossAPlanChangeGoesOnWhereItWas() throws {
        let plan = try Self.plan(Self.bursty, seed: 9)
        let unchanged = Self.dropped(plan, count: 2000)
        let live = LivePlan(plan)
        var track = Track(plan)
        var dropped: [UInt64] = []
        for ordinal in 0..<2000 as Range<UInt64> {
            if ordinal == 700 {
                let other = try Self.plan(Self.bursty + "  - {name: late, fault: {kind: delay, latency: 1ms}}\n", seed: 9)
                track.faults.adopt(live.replace(with: other.profile))
            }
            if track.decide().contains(where: { $0.effect == .datagram(.drop) }) { dropped.append(ordinal) }
        }
        #expect(track.faults.version == 2)
        #expect(dropped == unchanged)
    }

    @Test func corruptionPicksBitsInsideTheDatagram() throws {
        var track = Track(try Self.plan("  - {name: flip, fault: {kind: corrupt, rate: 0.01}}\n", seed: 5))
        var total = 0
        for _ in 0..<100 {
            guard case .datagram(.corrupt(let rate, let entropy))? = track.decide().first?.effect else {
                Issue.record("no corrupt decision")
                return
            }
            let bits = DatagramCorruptFault.bits(in: 100, rate: rate, entropy: entropy)
            #expect(!bits.isEmpty)
            #expect(bits == bits.sorted() && Set(bits).count == bits.count)
            #expect(bits.allSatisfy { (0..<800).contains($0) })
            total += bits.count
        }
        // 800 bits at 1%: about 8 per datagram.
        #expect((500...1100).contains(total))
        // Nothing to corrupt in an empty datagram.
        #expect(DatagramCorruptFault.bits(in: 0, rate: 0.01, entropy: 1).isEmpty)
        // Without a rate, exactly one bit.
        #expect(DatagramCorruptFault.bits(in: 4, rate: nil, entropy: 5).count == 1)
    }

    @Test(arguments: [DelayFault.Distribution.uniform, .normal])
    func jitterStaysAroundTheLatencyAndNeverGoesNegative(distribution: DelayFault.Distribution) {
        let delay = DelayFault(latency: .milliseconds(20), jitter: .milliseconds(10), distribution: distribution)
        var draws: [Duration] = []
        for unit in 0..<2000 {
            var random = DecisionRandom(DecisionKey(seed: 1, connection: 0, unit: UInt64(unit), rule: 0))
            guard case .delay(let drawn) = delay.effect(random: &random) else { continue }
            draws.append(drawn)
        }
        #expect(draws.allSatisfy { $0 >= .zero })
        if distribution == .uniform {
            #expect(draws.allSatisfy { $0 >= .milliseconds(10) && $0 <= .milliseconds(30) })
        }
        let mean = draws.reduce(0.0) { $0 + Double($1.nanoseconds) } / Double(draws.count) / 1e6
        #expect(abs(mean - 20) < 1.5)
        #expect(Set(draws).count > 1000)
    }

    @Test func tokenBucketPassesABurstThenTheRate() {
        var bucket = DatagramTokenBucket(DatagramRate(packetsPerSecond: 10, burst: 2))
        let burst = [bucket.take(bytes: 100, now: 0), bucket.take(bytes: 100, now: 0), bucket.take(bytes: 100, now: 0)]
        #expect(burst == [true, true, false])
        #expect(bucket.wait(bytes: 100) == 100_000_000)
        let refill = [bucket.take(bytes: 100, now: 99_000_000), bucket.take(bytes: 100, now: 100_000_000)]
        #expect(refill == [false, true])

        var bytes = DatagramTokenBucket(DatagramRate(bytesPerSecond: 1000, burst: 500))
        let small = [bytes.take(bytes: 400, now: 0), bytes.take(bytes: 400, now: 0)]
        #expect(small == [true, false])
        // Larger than the whole bucket: passes once the bucket is full again.
        let large = [bytes.take(bytes: 2000, now: 100_000_000), bytes.take(bytes: 2000, now: 400_000_000)]
        #expect(large == [false, true])
    }
}
