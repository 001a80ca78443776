import FaultlineCore
import Testing

/// The pure side of UDP faults: decisions keyed by position, never by time.
struct DatagramFaultPlanTests {
    /// Which ordinals of `count` datagrams (session 0, upstream) the plan drops.
    static func dropped(_ plan: DatagramFaultPlan, count: Int, session: UInt64 = 0, direction: Event.Direction = .upstream) -> [UInt64] {
        var track = plan.track(session: session, direction: direction)
        return (0..<count).compactMap { _ in
            let decision = plan.decide(bytes: 32, track: &track)
            return decision.drop == nil ? nil : decision.datagram
        }
    }

    static func lossPlan(_ probability: Double, seed: UInt64) throws -> DatagramFaultPlan {
        try DatagramFaultPlan(
            rules: [DatagramFaultRule(name: "lose", direction: .both, probability: probability, fault: .loss(.independent))],
            seed: seed
        )
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

    /// A window gates a rule by time since the proxy started (or the session opened);
    /// the schedule's phase gates it too; outside them every datagram passes.
    @Test func windowsAndTheScheduleGateRulesByTime() throws {
        let windowed = try DatagramFaultPlan(
            rules: [
                DatagramFaultRule(name: "early", fault: .loss(.independent), window: TimeWindow(from: .proxy, after: .seconds(1), length: .seconds(1))),
                DatagramFaultRule(name: "settled", fault: .loss(.independent), window: TimeWindow(from: .connection, after: .seconds(10))),
            ],
            seed: 3
        )
        func lost(_ plan: DatagramFaultPlan, proxy: Duration, session: Duration) -> String? {
            var track = plan.track(session: 0, direction: .upstream)
            return plan.decide(bytes: 8, track: &track, sinceProxyStart: proxy, sinceSessionOpen: session).drop.map { plan.rule($0).name }
        }
        #expect(lost(windowed, proxy: .milliseconds(999), session: .zero) == nil)
        #expect(lost(windowed, proxy: .milliseconds(1000), session: .zero) == "early")
        #expect(lost(windowed, proxy: .milliseconds(2000), session: .seconds(9)) == nil)
        #expect(lost(windowed, proxy: .seconds(30), session: .seconds(10)) == "settled")

        let scheduled = try DatagramFaultPlan(
            rules: [DatagramFaultRule(name: "storm", fault: .loss(.independent))],
            seed: 3,
            schedule: Schedule(phases: [.init(name: "calm", duration: .seconds(10), rules: []), .init(name: "storm", duration: .seconds(5), rules: ["storm"])], repeats: true)
        )
        #expect(lost(scheduled, proxy: .seconds(9), session: .zero) == nil)
        #expect(lost(scheduled, proxy: .seconds(12), session: .zero) == "storm")
        #expect(lost(scheduled, proxy: .seconds(16), session: .zero) == nil)
        #expect(lost(scheduled, proxy: .seconds(27), session: .zero) == "storm")
    }

    /// `match.client` selects sessions by their client's address, once per track.
    @Test func theClientMatchSelectsSessionsByAddress() throws {
        let block = AddressMatch(blocks: [try #require(AddressMatch.Block("10.0.0.0/8"))])
        let plan = try DatagramFaultPlan(
            rules: [DatagramFaultRule(name: "far", match: DatagramMatch(client: block), fault: .loss(.independent))],
            seed: 5
        )
        var far = plan.track(session: 0, direction: .upstream, client: "10.9.8.7:53000")
        var near = plan.track(session: 1, direction: .upstream, client: "127.0.0.1:53000")
        var unknown = plan.track(session: 2, direction: .upstream)
        #expect(plan.decide(bytes: 8, track: &far).drop == 0)
        #expect(plan.decide(bytes: 8, track: &near).drop == nil)
        #expect(plan.decide(bytes: 8, track: &unknown).drop == nil)
    }

    @Test func ruleDirectionAndMatchLimitWhatARuleSees() throws {
        let plan = try DatagramFaultPlan(
            rules: [
                DatagramFaultRule(
                    name: "first-reply",
                    direction: .downstream,
                    match: DatagramMatch(datagrams: 0...0),
                    fault: .loss(.independent)
                )
            ],
            seed: 1
        )
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

    @Test func gilbertElliottLossComesInBurstsDeterministically() throws {
        let rule = DatagramFaultRule(name: "bursty", fault: .loss(.gilbertElliott(p: 0.05, r: 0.3)))
        let bursty = Self.dropped(try DatagramFaultPlan(rules: [rule], seed: 9), count: 10_000)
        let again = Self.dropped(try DatagramFaultPlan(rules: [rule], seed: 9), count: 10_000)
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
        let rule = DatagramFaultRule(name: "noisy", fault: .loss(.gilbertElliott(p: 0, r: 1, lossGood: 0.1, lossBad: 1)))
        let dropped = Self.dropped(try DatagramFaultPlan(rules: [rule], seed: 3), count: 10_000)
        // Never leaves the good state: plain 10% loss.
        #expect((800...1200).contains(dropped.count))
    }

    @Test func aLostDatagramHasNoOtherEffect() throws {
        let plan = try DatagramFaultPlan(
            rules: [
                DatagramFaultRule(name: "dup", fault: .duplicate(DatagramDuplicate())),
                DatagramFaultRule(name: "lose", fault: .loss(.independent)),
            ],
            seed: 0
        )
        var track = plan.track(session: 0, direction: .upstream)
        let decision = plan.decide(bytes: 10, track: &track)
        #expect(decision.drop == 1)
        #expect(decision.duplicate == nil)
        #expect(track.next == 1)
    }

    @Test func theFirstRuleOfAKindWins() throws {
        let plan = try DatagramFaultPlan(
            rules: [
                DatagramFaultRule(name: "short", fault: .delay(DatagramDelay(latency: .milliseconds(5)))),
                DatagramFaultRule(name: "long", fault: .delay(DatagramDelay(latency: .milliseconds(500)))),
            ],
            seed: 0
        )
        var track = plan.track(session: 0, direction: .upstream)
        #expect(plan.decide(bytes: 10, track: &track).delay == .init(rule: 0, value: .milliseconds(5)))
    }

    @Test func corruptionPicksBitsInsideTheDatagram() throws {
        let plan = try DatagramFaultPlan(
            rules: [DatagramFaultRule(name: "flip", fault: .corrupt(DatagramCorrupt(rate: 0.01)))],
            seed: 5
        )
        var track = plan.track(session: 0, direction: .upstream)
        var total = 0
        for _ in 0..<100 {
            let bits = try #require(plan.decide(bytes: 100, track: &track).corrupt).value
            #expect(!bits.isEmpty)
            #expect(bits == bits.sorted() && Set(bits).count == bits.count)
            #expect(bits.allSatisfy { (0..<800).contains($0) })
            total += bits.count
        }
        // 800 bits at 1%: about 8 per datagram.
        #expect((500...1100).contains(total))
        // Nothing to corrupt in an empty datagram.
        #expect(plan.decide(bytes: 0, track: &track).corrupt == nil)
        // Without a rate, exactly one bit.
        let one = try DatagramFaultPlan(rules: [DatagramFaultRule(name: "one", fault: .corrupt(DatagramCorrupt()))], seed: 5)
        var oneTrack = one.track(session: 0, direction: .upstream)
        #expect(one.decide(bytes: 4, track: &oneTrack).corrupt?.value.count == 1)
    }

    @Test(arguments: [DatagramDelay.Distribution.uniform, .normal])
    func jitterStaysAroundTheLatencyAndNeverGoesNegative(distribution: DatagramDelay.Distribution) {
        let delay = DatagramDelay(latency: .milliseconds(20), jitter: .milliseconds(10), distribution: distribution)
        var draws: [Duration] = []
        for unit in 0..<2000 {
            var random = DecisionRandom(DecisionKey(seed: 1, connection: 0, unit: UInt64(unit), rule: 0))
            draws.append(delay.draw(using: &random))
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

    @Test func badRulesAreRejectedNamingTheRule() {
        #expect(throws: InvalidInputError.self) {
            try DatagramFaultPlan(rules: [DatagramFaultRule(name: "x", probability: 1.5, fault: .loss(.independent))], seed: 0)
        }
        do {
            _ = try DatagramFaultPlan(rules: [DatagramFaultRule(name: "dup", fault: .duplicate(DatagramDuplicate(copies: 0)))], seed: 0)
            Issue.record("copies: 0 was accepted")
        } catch {
            #expect(error.message.contains("rule 'dup'"))
            #expect(error.message.contains("copies"))
        }
        #expect(throws: InvalidInputError.self) {
            try DatagramFaultPlan(rules: [DatagramFaultRule(name: "r", fault: .reorder(DatagramReorder()))], seed: 0)
        }
        #expect(throws: InvalidInputError.self) {
            try DatagramFaultPlan(rules: [DatagramFaultRule(name: "r", fault: .rate(DatagramRate(packetsPerSecond: 0)))], seed: 0)
        }
    }
}
