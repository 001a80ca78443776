/// Where a decision happens: the same key always yields the same random stream.
///
/// Keys name positions in the traffic, never moments in time, so that two runs with the
/// same seed and the same traffic make the same choices whatever the thread timing.
package struct DecisionKey: Hashable, Sendable {
    /// The run's seed (`--seed`, or one chosen and logged at start).
    package var seed: UInt64
    /// Which proxy of a run (0 for a lone `faultline proxy`).
    package var proxy: UInt32
    /// The connection ordinal (TCP) or session ordinal (UDP), from 0.
    package var connection: UInt64
    /// The chunk, message or datagram ordinal within the connection, from 0; or a
    /// reserved value for per-connection decisions.
    package var unit: UInt64
    /// A stable hash of the rule's name (`ruleKey(_:)`), never its index: adding or
    /// removing one rule must not change what the others draw.
    package var rule: UInt64

    package init(seed: UInt64, proxy: UInt32 = 0, connection: UInt64, unit: UInt64, rule: UInt64) {
        self.seed = seed
        self.proxy = proxy
        self.connection = connection
        self.unit = unit
        self.rule = rule
    }

    /// The `unit` value used for decisions taken once per connection.
    package static let perConnection: UInt64 = .max

    /// The `rule` of a key: FNV-1a (64 bits) of the rule's name, stable across builds
    /// and platforms (Swift's `Hasher` is seeded per process, so it cannot be used).
    package static func ruleKey(_ name: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }
}

/// A counter-based generator: its whole stream depends only on its key.
///
/// Build one per decision (`DecisionRandom(key)`) and pass it `inout` to whatever
/// draws; never share one between decisions. The mixing function is SplitMix64's
/// finaliser, so nearby keys give unrelated streams.
package struct DecisionRandom: RandomNumberGenerator, Sendable, Equatable {
    private var state: UInt64

    package init(_ key: DecisionKey) {
        self.state = [UInt64(key.proxy), key.connection, key.unit, key.rule]
            .reduce(Self.mix(key.seed)) { Self.mix($0 ^ $1) }
    }

    package mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(self.state)
    }

    /// A uniform draw in [0, 1): 53 random bits, as `Double` holds.
    package mutating func nextUnit() -> Double {
        Double(self.next() >> 11) * 0x1.0p-53
    }

    /// True with probability `p` (0 never, 1 always).
    package mutating func chance(_ p: Double) -> Bool {
        if p <= 0 { return false }
        if p >= 1 { return true }
        return self.nextUnit() < p
    }

    private static func mix(_ value: UInt64) -> UInt64 {
        SplitMix64.mix(value)
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a seeded generator for everything that
/// needs a reproducible stream from one number (the checker's reservoir sampling, the
/// fuzz cases' splits, the tests' patterns and jitter). Never a global generator.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    package init(seed: UInt64) {
        self.state = seed
    }

    package mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(self.state)
    }

    /// The finaliser: nearby inputs give unrelated outputs.
    package static func mix(_ value: UInt64) -> UInt64 {
        let x = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        let y = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        return y ^ (y >> 31)
    }
}
