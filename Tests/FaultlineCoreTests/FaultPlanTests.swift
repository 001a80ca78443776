import FaultlineCore
import Testing

/// The pure decision maker: same seed and traffic, same faults; per-connection decisions
/// hold; matches select what they say.
struct FaultPlanTests {
    static func plan(_ rules: String, seed: UInt64 = 1, extra: String = "") throws -> FaultPlan {
        let text = "faultline: 1\nname: p\ndescription: plan test\n" + extra + "rules:\n" + rules
        return FaultPlan(profile: try ProfileLoader(library: []).load(text: text, file: "p.yaml"), seed: seed)
    }

    /// A fixed traffic pattern: `connections` connections, each with chunks alternating
    /// direction; every fired decision, in order.
    static func run(_ plan: FaultPlan, connections: UInt64 = 20, chunks: Int = 30) -> [String] {
        var log: [String] = []
        for ordinal in 0..<connections {
            if let refusal = plan.admission(connection: ordinal, client: "127.0.0.1:4000", sinceProxyStart: .zero) {
                log.append("c\(ordinal) \(refusal.rule) \(refusal.action)")
                continue
            }
            var faults = plan.connection(ordinal, client: "127.0.0.1:4000")
            for index in 0..<chunks {
                let direction: Event.Direction = index % 2 == 0 ? .upstream : .downstream
                let decision = faults.decide(direction: direction, bytes: 100 + index, sinceProxyStart: .seconds(index), sinceOpen: .seconds(index))
                for fired in decision.fired {
                    log.append("c\(ordinal) u\(fired.unit ?? 0) \(direction) \(fired.rule) \(fired.action) \(fired.params.sorted(by: { $0.key < $1.key }))")
                }
            }
        }
        return log
    }

    static let mixed = """
          - {name: refuse, probability: 0.2, fault: {kind: refuse}}
          - {name: jitter, per: chunk, probability: 0.5, fault: {kind: delay, latency: 50ms, jitter: 40ms, distribution: normal}}
          - {name: cut, probability: 0.3, fault: {kind: sever, after_bytes: {min: 0, max: 2000}}}
        """

    @Test func sameSeedGivesTheSameDecisions() throws {
        let first = Self.run(try Self.plan(Self.mixed, seed: 42))
        let second = Self.run(try Self.plan(Self.mixed, seed: 42))
        #expect(!first.isEmpty)
        #expect(first == second)
        let other = Self.run(try Self.plan(Self.mixed, seed: 43))
        #expect(first != other)
    }

    @Test func probabilityIsRoughlyHonoured() throws {
        let plan = try Self.plan("  - {name: d, per: chunk, probability: 0.25, fault: {kind: delay, latency: 1ms}}\n")
        var faults = plan.connection(0, client: nil)
        var fired = 0
        for _ in 0..<4000 {
            fired += faults.decide(direction: .upstream, bytes: 1, sinceProxyStart: .zero, sinceOpen: .zero).fired.count
        }
        #expect((800...1200).contains(fired), "fired \(fired) of 4000")
    }

    @Test func aPerConnectionDecisionHoldsForTheWholeConnection() throws {
        let plan = try Self.plan("  - {name: slow, probability: 0.5, fault: {kind: delay, latency: 10ms}}\n")
        var armed = 0
        for ordinal in 0..<200 as Range<UInt64> {
            var faults = plan.connection(ordinal, client: nil)
            let counts = (0..<50).map { _ in faults.decide(direction: .downstream, bytes: 10, sinceProxyStart: .zero, sinceOpen: .zero).fired.count }
            #expect(Set(counts).count == 1, "connection \(ordinal) flipped")
            armed += counts[0]
        }
        #expect((60...140).contains(armed))
    }

    @Test func addingARuleDoesNotChangeAnotherRulesDecisions() throws {
        let base = "  - {name: a, probability: 0.5, per: chunk, fault: {kind: delay, latency: 1ms}}\n"
        let more = base + "  - {name: b, probability: 0.5, per: chunk, fault: {kind: delay, latency: 2ms}}\n"
        let only = Self.run(try Self.plan(base)).filter { $0.contains(" a delay") }
        let both = Self.run(try Self.plan(more)).filter { $0.contains(" a delay") }
        #expect(only == both)
    }

    /// Keys come from rule names, not positions: removing the rule before another one
    /// leaves every decision of that other rule as it was.
    @Test func removingARuleLeavesTheRulesAfterItUnchanged() throws {
        let first = "  - {name: a, probability: 0.5, per: chunk, fault: {kind: delay, latency: 1ms}}\n"
        let second = "  - {name: b, probability: 0.3, fault: {kind: sever, after_bytes: {min: 0, max: 2000}}}\n"
        let third = "  - {name: c, probability: 0.5, per: chunk, fault: {kind: delay, latency: 2ms, jitter: 1ms}}\n"
        let all = Self.run(try Self.plan(first + second + third))
        let withoutA = Self.run(try Self.plan(second + third))
        #expect(all.filter { !$0.contains(" a delay") } == withoutA.filter { !$0.contains(" a delay") })
        #expect(all.contains { $0.contains(" b ") } && all.contains { $0.contains(" c delay") })
    }

    @Test func ruleKeysAreStableHashesOfTheName() {
        #expect(DecisionKey.ruleKey("lose-first-reply") == DecisionKey.ruleKey("lose-first-reply"))
        #expect(DecisionKey.ruleKey("a") != DecisionKey.ruleKey("b"))
        // FNV-1a 64 of "a": the same on every build and platform.
        #expect(DecisionKey.ruleKey("a") == 0xaf63_dc4c_8601_ec8c)
    }

    @Test func directionsAreSeparate() throws {
        let plan = try Self.plan("  - {name: up, match: {direction: upstream}, fault: {kind: blackhole}}\n")
        var faults = plan.connection(0, client: nil)
        #expect(faults.decide(direction: .downstream, bytes: 5, sinceProxyStart: .zero, sinceOpen: .zero).stop == nil)
        #expect(faults.decide(direction: .upstream, bytes: 5, sinceProxyStart: .zero, sinceOpen: .zero).stop == .blackhole)
    }

    /// With nothing recording, only the rule that stops a direction is listed; the
    /// decision itself is the same.
    @Test func unlistedDecisionsKeepTheirEffectAndNameOnlyTheStop() throws {
        let rules = "  - {name: slow, fault: {kind: delay, latency: 5ms}}\n  - {name: gone, match: {direction: upstream}, fault: {kind: blackhole}}\n"
        var listed = try Self.plan(rules).connection(0, client: nil)
        var unlisted = try Self.plan(rules).connection(0, client: nil)
        for direction in [Event.Direction.downstream, .upstream] {
            let all = listed.decide(direction: direction, bytes: 5, sinceProxyStart: .zero, sinceOpen: .zero)
            let some = unlisted.decide(direction: direction, bytes: 5, sinceProxyStart: .zero, sinceOpen: .zero, listing: false)
            #expect(some.delay == all.delay && some.stop == all.stop && some.unit == all.unit)
            #expect(some.fired.map(\.rule) == (direction == .upstream ? ["gone"] : []))
            #expect(all.fired.map(\.rule) == (direction == .upstream ? ["slow", "gone"] : ["slow"]))
        }
    }

    static let ordinalCases: [(String, [UInt64])] = [
        ("{first: 3}", [0, 1, 2]),
        ("{every: 5}", [4, 9, 14, 19]),
        ("{skip: 17}", [17, 18, 19]),
        ("{every: 2, first: 6, skip: 2}", [3, 5]),
    ]

    @Test(arguments: ordinalCases)
    func connectionOrdinalsSelect(match: String, expected: [UInt64]) throws {
        let plan = try Self.plan("  - {name: r, match: {connections: \(match)}, fault: {kind: refuse}}\n")
        let refused = (0..<20 as Range<UInt64>).filter { plan.admission(connection: $0, client: nil, sinceProxyStart: .zero) != nil }
        #expect(refused == expected)
    }

    @Test func clientAddressSelects() throws {
        let plan = try Self.plan("  - {name: r, match: {client: 10.1.0.0/16}, fault: {kind: refuse, mode: close}}\n")
        #expect(plan.admission(connection: 0, client: "10.1.200.3:5555", sinceProxyStart: .zero)?.effect == .refuse(.close))
        #expect(plan.admission(connection: 0, client: "10.2.0.1:5555", sinceProxyStart: .zero) == nil)
        #expect(plan.admission(connection: 0, client: nil, sinceProxyStart: .zero) == nil)
    }

    @Test func windowAfterConnectionOpen() throws {
        let plan = try Self.plan("  - {name: cut, window: {after: 10s}, fault: {kind: blackhole}}\n")
        var faults = plan.connection(0, client: nil)
        #expect(faults.decide(direction: .upstream, bytes: 1, sinceProxyStart: .seconds(100), sinceOpen: .seconds(9)).stop == nil)
        #expect(faults.decide(direction: .upstream, bytes: 1, sinceProxyStart: .seconds(101), sinceOpen: .seconds(10)).stop == .blackhole)
    }

    @Test func windowAfterProxyStartWithLength() throws {
        let plan = try Self.plan("  - {name: r, window: {from: proxy, after: 5s, for: 5s}, fault: {kind: refuse}}\n")
        #expect(plan.admission(connection: 0, client: nil, sinceProxyStart: .seconds(4)) == nil)
        #expect(plan.admission(connection: 1, client: nil, sinceProxyStart: .seconds(5)) != nil)
        #expect(plan.admission(connection: 2, client: nil, sinceProxyStart: .milliseconds(9999)) != nil)
        #expect(plan.admission(connection: 3, client: nil, sinceProxyStart: .seconds(10)) == nil)
    }

    @Test func scheduleSwitchesRulesAndRepeats() throws {
        let plan = try Self.plan(
            "  - {name: r, fault: {kind: refuse}}\n",
            extra: "schedule:\n  repeat: true\n  phases:\n    - {duration: 10s, rules: []}\n    - {duration: 5s, rules: [r]}\n"
        )
        let refusedAt = [0, 9, 10, 14, 15, 24, 25, 29, 30].map { seconds in
            plan.admission(connection: 0, client: nil, sinceProxyStart: .seconds(seconds)) != nil
        }
        #expect(refusedAt == [false, false, true, true, false, false, true, true, false])
    }

    @Test func severAtAByteOffsetSplitsTheChunkThatCrossesIt() throws {
        let plan = try Self.plan("  - {name: cut, match: {direction: upstream}, fault: {kind: sever, mode: fin, after_bytes: 250}}\n")
        var faults = plan.connection(0, client: nil)
        #expect(faults.decide(direction: .upstream, bytes: 100, sinceProxyStart: .zero, sinceOpen: .zero).stop == nil)
        #expect(faults.decide(direction: .upstream, bytes: 100, sinceProxyStart: .zero, sinceOpen: .zero).stop == nil)
        let third = faults.decide(direction: .upstream, bytes: 100, sinceProxyStart: .zero, sinceOpen: .zero)
        #expect(third.stop == .sever(.fin, passBytes: 50))
        #expect(third.fired.first?.params["at_byte"] == "250")
    }

    @Test func severOffsetFromARangeIsDrawnOncePerConnection() throws {
        let plan = try Self.plan("  - {name: cut, fault: {kind: sever, after_bytes: {min: 10, max: 1000}}}\n")
        var offsets: Set<String> = []
        for ordinal in 0..<20 as Range<UInt64> {
            var faults = plan.connection(ordinal, client: nil)
            var fired: [FaultDecision] = []
            for _ in 0..<200 where fired.isEmpty {
                fired = faults.decide(direction: .upstream, bytes: 7, sinceProxyStart: .zero, sinceOpen: .zero).fired
            }
            let offset = try #require(fired.first?.params["at_byte"])
            #expect((10...1000).contains(Int(offset) ?? -1))
            offsets.insert(offset)
        }
        #expect(offsets.count > 10)
    }

    @Test func timedSeversAreListedForTheEngine() throws {
        let plan = try Self.plan("  - {name: unplug, fault: {kind: sever, mode: reset, after: 10s}}\n")
        let timed = plan.connection(0, client: nil).timedSevers
        #expect(timed.count == 1)
        #expect(timed.first?.after == .seconds(10))
        #expect(timed.first?.decision.effect == .sever(.reset, trigger: .afterTime(.seconds(10))))
        #expect(timed.first?.decision.direction == nil)
        let downstream = try Self.plan("  - {name: quiet, match: {direction: downstream}, fault: {kind: sever, mode: half-close, after: 1s}}\n")
        #expect(downstream.connection(0, client: nil).timedSevers.first?.decision.direction == .downstream)
    }

    @Test func delaysSumAndThrottleIsAnnouncedOnce() throws {
        let plan = try Self.plan("""
              - {name: a, fault: {kind: delay, latency: 10ms}}
              - {name: b, fault: {kind: delay, latency: 5ms}}
              - {name: c, fault: {kind: bandwidth, bytes_per_second: 100}}
            """ + "\n")
        var faults = plan.connection(0, client: nil)
        let first = faults.decide(direction: .upstream, bytes: 1, sinceProxyStart: .zero, sinceOpen: .zero)
        #expect(first.delay == .milliseconds(15))
        #expect(first.bytesPerSecond == 100)
        #expect(first.fired.map(\.rule) == ["a", "b", "c"])
        let second = faults.decide(direction: .upstream, bytes: 1, sinceProxyStart: .zero, sinceOpen: .zero)
        #expect(second.fired.map(\.rule) == ["a", "b"])
        #expect(second.bytesPerSecond == 100)
    }

    @Test func uniformJitterStaysInItsRange() throws {
        let plan = try Self.plan("  - {name: d, per: chunk, fault: {kind: delay, latency: 100ms, jitter: 20ms}}\n")
        var faults = plan.connection(0, client: nil)
        for _ in 0..<500 {
            let delay = faults.decide(direction: .upstream, bytes: 1, sinceProxyStart: .zero, sinceOpen: .zero).delay
            #expect(delay >= .milliseconds(80) && delay <= .milliseconds(120))
        }
    }
}

/// The hook framed connections and the UDP engine call per message.
struct MessageDecisionTests {
    @Test func messageRulesActOnMatchingMessagesOnly() throws {
        let plan = try FaultPlanTests.plan("""
              - {name: slow-posts, match: {method: POST, path: /orders/*}, per: message, fault: {kind: delay, latency: 1s}}
              - {name: chunky, fault: {kind: delay, latency: 5ms}}
            """ + "\n")
        var faults = plan.connection(0, client: nil)
        let post = MessageFacts(ordinal: 0, method: "post", path: "/orders/9")
        let get = MessageFacts(ordinal: 1, method: "GET", path: "/orders/9")
        #expect(faults.decideMessage(direction: .upstream, facts: post, sinceProxyStart: .zero, sinceOpen: .zero).map(\.rule) == ["slow-posts"])
        #expect(faults.decideMessage(direction: .upstream, facts: get, sinceProxyStart: .zero, sinceOpen: .zero).isEmpty)
        // Chunk decisions never see the message rule.
        let chunk = faults.decide(direction: .upstream, bytes: 10, sinceProxyStart: .zero, sinceOpen: .zero)
        #expect(chunk.fired.map(\.rule) == ["chunky"])
    }

    @Test func sameSeedSameMessageDecisions() throws {
        let rules = "  - {name: some, per: message, probability: 0.3, fault: {kind: delay, latency: 10ms, jitter: 5ms}}\n"
        func run(_ seed: UInt64) throws -> [String] {
            let faults = try FaultPlanTests.plan(rules, seed: seed).connection(3, client: nil)
            return (0..<200 as Range<UInt64>).flatMap { ordinal in
                faults.decideMessage(direction: .downstream, facts: MessageFacts(ordinal: ordinal), sinceProxyStart: .zero, sinceOpen: .zero)
                    .map { "\(ordinal) \($0.params["delay"] ?? "")" }
            }
        }
        let first = try run(5)
        #expect((30...90).contains(first.count))
        #expect(try run(5) == first)
    }
}
