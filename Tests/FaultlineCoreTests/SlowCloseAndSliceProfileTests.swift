import FaultlineCore
import Testing

/// `slow_close` and `slice`'s `size_variation` as profiles write them, and the engine's
/// decisions about them.
struct SlowCloseAndSliceProfileTests {
    static let header = "faultline: 1\nname: t\ndescription: test profile\n"

    static func load(_ rules: String) throws -> Profile {
        try ProfileLoader(library: []).load(text: Self.header + "rules:\n" + rules, file: "t.yaml")
    }

    @Test func slowCloseReadsItsDelay() throws {
        let profile = try Self.load("  - {name: linger, match: {direction: downstream}, fault: {kind: slow_close, delay: 2s}}\n")
        let rule = try #require(profile.rules.first)
        #expect(rule.kind == "slow_close")
        #expect(rule.fault.params == ["delay": "2s"])
        #expect(rule.fault.explanation.contains("holds the end of stream"))
    }

    static let mistakes: [(String, String)] = [
        ("  - {name: a, fault: {kind: slow_close}}\n", "needs 'delay'"),
        ("  - {name: a, fault: {kind: slow_close, delay: 10}}\n", "delay must be a duration"),
        ("  - {name: a, fault: {kind: slow_close, delay: 1s, jitter: 1s}}\n", "unknown key 'jitter'"),
        ("  - {name: a, fault: {kind: slice, size: 4, size_variation: -1}}\n", "size_variation"),
        ("  - {name: a, fault: {kind: slice, size: 4, size_variation: lots}}\n", "size_variation"),
    ]

    @Test(arguments: Self.mistakes)
    func mistakesAreReported(rules: String, says: String) {
        #expect {
            try Self.load(rules)
        } throws: { error in
            "\(error)".contains(says)
        }
    }

    @Test func aSlowCloseMatchingMessagesIsRefused() {
        let text = Self.header + "framing: http\nrules:\n  - {name: a, match: {method: POST}, fault: {kind: slow_close, delay: 1s}}\n"
        #expect {
            try ProfileLoader(library: []).load(text: text, file: "t.yaml")
        } throws: { error in
            "\(error)".contains("a slow_close holds the end of stream")
        }
    }

    @Test func aUDPProfileHasNoSlowClose() {
        let text = Self.header + "transport: udp\nrules:\n  - {name: a, fault: {kind: slow_close, delay: 1s}}\n"
        #expect {
            try ProfileLoader(library: []).load(text: text, file: "t.yaml")
        } throws: { error in
            "\(error)".contains("slow_close is a TCP fault")
        }
    }

    @Test func sliceReadsItsVariation() throws {
        let rule = try #require(try Self.load("  - {name: drip, fault: {kind: slice, size: 8, size_variation: 3, gap: 2ms}}\n").rules.first)
        #expect(rule.fault.params == ["size": "8", "size_variation": "3", "gap": "2ms"])
        #expect(rule.fault.explanation.contains("5 to 11 bytes"))
        let plain = try #require(try Self.load("  - {name: drip, fault: {kind: slice, size: 8}}\n").rules.first)
        #expect(plain.fault.params == ["size": "8", "gap": "0s"], "no variation, no key: events as before")
    }

    /// The end is decided by the rule armed for the connection, in its direction and
    /// window only; `per: chunk` draws the end as the chunk after the last.
    @Test func theEndIsDecidedInItsDirectionAndWindow() throws {
        let profile = try Self.load(
            """
              - {name: linger, match: {direction: upstream}, window: {for: 10s}, fault: {kind: slow_close, delay: 300ms}}

            """
        )
        var faults = ConnectionFaults(LivePlan(FaultPlan(profile: profile, seed: 1)).current, ordinal: 0, client: nil)
        _ = faults.decide(direction: .upstream, bytes: 5, sinceProxyStart: .zero, sinceOpen: .zero)
        let end = try #require(faults.decideEnd(direction: .upstream, sinceProxyStart: .seconds(1), sinceOpen: .seconds(1)))
        #expect(end.effect == .holdClose(.milliseconds(300)))
        #expect(end.action == "hold_close")
        #expect(end.unit == 1)
        #expect(end.direction == .upstream)
        #expect(faults.decideEnd(direction: .downstream, sinceProxyStart: .seconds(1), sinceOpen: .seconds(1)) == nil)
        #expect(faults.decideEnd(direction: .upstream, sinceProxyStart: .seconds(11), sinceOpen: .seconds(11)) == nil)
        // Chunks are not touched by it.
        #expect(faults.decide(direction: .upstream, bytes: 5, sinceProxyStart: .zero, sinceOpen: .zero).isPass)
    }

    @Test func perChunkEndsDrawTheSameForTheSameSeed() throws {
        let profile = try Self.load("  - {name: linger, per: chunk, probability: 0.5, fault: {kind: slow_close, delay: 1s}}\n")
        func ends(seed: UInt64) -> [Bool] {
            (0..<64).map { ordinal in
                let faults = ConnectionFaults(LivePlan(FaultPlan(profile: profile, seed: seed)).current, ordinal: UInt64(ordinal), client: nil)
                return faults.decideEnd(direction: .downstream, sinceProxyStart: .zero, sinceOpen: .zero) != nil
            }
        }
        let first = ends(seed: 4)
        #expect(ends(seed: 4) == first)
        #expect(first.contains(true) && first.contains(false))
    }

    /// The piece sizes come from each chunk's decision: the same for the same seed and
    /// chunk, other for another chunk, even with the rule decided once per connection.
    @Test func pieceSizesAreDrawnPerChunk() throws {
        let profile = try Self.load("  - {name: drip, fault: {kind: slice, size: 10, size_variation: 6}}\n")
        func sizes(seed: UInt64) throws -> [[Int]] {
            var faults = ConnectionFaults(LivePlan(FaultPlan(profile: profile, seed: seed)).current, ordinal: 0, client: nil)
            return try (0..<3).map { _ in
                var slice = try #require(faults.decide(direction: .upstream, bytes: 100, sinceProxyStart: .zero, sinceOpen: .zero).slice)
                return (0..<20).map { _ in slice.nextPieceSize() }
            }
        }
        let first = try sizes(seed: 2)
        #expect(first.joined().allSatisfy { (4...16).contains($0) })
        #expect(try sizes(seed: 2) == first)
        #expect(first[0] != first[1])
    }
}
