/// Decides, datagram by datagram, what a UDP proxy's rules do: pure, with no clock and
/// no shared generator.
///
/// Each rule's decision for a datagram draws from its own `DecisionRandom`, keyed by
/// (seed, proxy, session ordinal, datagram ordinal and direction, rule index), so the
/// same seed and the same traffic give the same faults whatever the thread timing, and
/// adding a rule never changes what the others decide. The only memory between
/// datagrams is each Gilbert-Elliott chain's state, kept in a `Track` per session and
/// direction and advanced once per datagram the rule covers, in ordinal order.
///
/// Time only gates whether a rule acts now (its window, the schedule's phase), as for
/// TCP: callers pass the elapsed times, read from their event loop. A rule outside its
/// window covers nothing, so its chain does not advance either.
public struct DatagramFaultPlan: Sendable {
    public let rules: [DatagramFaultRule]
    public let seed: UInt64
    /// Which proxy of a run (0 for a lone `faultline proxy`).
    public let proxy: UInt32
    /// The profile's phases, by time since the proxy started; nil: every rule always.
    public let schedule: Schedule?
    /// Each rule's part of its decision keys (a hash of its name), by index.
    private let ruleKeys: [UInt64]

    /// - Throws: `InvalidInputError` naming the first rule with a bad parameter.
    public init(rules: [DatagramFaultRule], seed: UInt64, proxy: UInt32 = 0, schedule: Schedule? = nil) throws(InvalidInputError) {
        for rule in rules {
            try rule.validate()
        }
        self.rules = rules
        self.ruleKeys = rules.map { DecisionKey.ruleKey($0.name) }
        self.seed = seed
        self.proxy = proxy
        self.schedule = schedule
    }

    /// A plan with no rules: every datagram passes untouched.
    public static let passthrough = DatagramFaultPlan(uncheckedRules: [], seed: 0, proxy: 0)

    private init(uncheckedRules: [DatagramFaultRule], seed: UInt64, proxy: UInt32) {
        self.rules = uncheckedRules
        self.ruleKeys = uncheckedRules.map { DecisionKey.ruleKey($0.name) }
        self.seed = seed
        self.proxy = proxy
        self.schedule = nil
    }

    /// What the plan remembers about one session and direction between datagrams.
    public struct Track: Sendable, Equatable {
        public let session: UInt64
        public let direction: Event.Direction
        /// The ordinal the next datagram gets.
        public fileprivate(set) var next: UInt64 = 0
        /// Per rule: whether its Gilbert-Elliott chain is in the bad state.
        fileprivate var bad: [Bool]
        /// Per rule: whether the session's client is one the rule selects.
        fileprivate let selected: [Bool]
    }

    /// A fresh track: ordinal 0, every chain in the good state. `client` is the
    /// session's client address (host and port), for rules that match on it.
    public func track(session: UInt64, direction: Event.Direction, client: String? = nil) -> Track {
        Track(
            session: session,
            direction: direction,
            bad: Array(repeating: false, count: self.rules.count),
            selected: self.rules.map { $0.match.selects(client: client) }
        )
    }

    /// Whether `rule` may act now: its window and the schedule's phase allow it.
    public func isActive(_ rule: DatagramFaultRule, sinceProxyStart: Duration, sinceSessionOpen: Duration) -> Bool {
        if let window = rule.window {
            let elapsed = window.from == .proxy ? sinceProxyStart : sinceSessionOpen
            if !window.contains(elapsed) { return false }
        }
        if let schedule = self.schedule, !schedule.allows(rule.name, at: sinceProxyStart) {
            return false
        }
        return true
    }

    /// The key of rule `rule`'s decision for one datagram. The direction is folded into
    /// the unit (`datagram × 2`, plus 1 downstream) so the two directions of a session
    /// never share a stream.
    public func key(session: UInt64, direction: Event.Direction, datagram: UInt64, rule: Int) -> DecisionKey {
        DecisionKey(
            seed: self.seed,
            proxy: self.proxy,
            connection: session,
            unit: datagram &* 2 &+ (direction == .downstream ? 1 : 0),
            rule: self.ruleKeys[rule]
        )
    }

    /// Decides the next datagram of `track` (`bytes` long) and advances the track.
    /// The elapsed times (since the proxy started, since the session's first datagram)
    /// gate rules with a window and the schedule's phases.
    public func decide(
        bytes: Int,
        track: inout Track,
        sinceProxyStart: Duration = .zero,
        sinceSessionOpen: Duration = .zero
    ) -> DatagramDecision {
        let ordinal = track.next
        track.next += 1
        var decision = DatagramDecision(datagram: ordinal)
        for (index, rule) in self.rules.enumerated()
        where rule.direction.covers(track.direction) && track.selected[index]
            && rule.match.covers(session: track.session, datagram: ordinal)
            && self.isActive(rule, sinceProxyStart: sinceProxyStart, sinceSessionOpen: sinceSessionOpen)
        {
            var random = DecisionRandom(
                self.key(session: track.session, direction: track.direction, datagram: ordinal, rule: index)
            )
            switch rule.fault {
            case .loss(let loss):
                let lost: Bool
                switch loss.model {
                case .independent:
                    lost = random.chance(rule.probability)
                case .gilbertElliott(let chain):
                    // Always three draws, so the chain's path depends on nothing else.
                    let gate = random.chance(rule.probability)
                    let bad = track.bad[index]
                    let lossHere = random.chance(bad ? chain.lossBad : chain.lossGood)
                    let move = random.nextUnit()
                    track.bad[index] = bad ? !(move < chain.r) : move < chain.p
                    lost = gate && lossHere
                }
                if lost && decision.drop == nil { decision.drop = index }
            case .duplicate(let duplicate):
                if decision.duplicate == nil, random.chance(rule.probability) {
                    decision.duplicate = .init(rule: index, value: duplicate)
                }
            case .reorder(let reorder):
                if decision.hold == nil, random.chance(rule.probability) {
                    decision.hold = .init(rule: index, value: reorder)
                }
            case .delay(let delay):
                if decision.delay == nil, random.chance(rule.probability) {
                    decision.delay = .init(rule: index, value: delay.draw(using: &random))
                }
            case .corrupt(let corrupt):
                if decision.corrupt == nil, bytes > 0, random.chance(rule.probability) {
                    decision.corrupt = .init(rule: index, value: corrupt.draw(bytes: bytes, using: &random))
                }
            case .rate(let rate):
                if decision.rate == nil, random.chance(rule.probability) {
                    decision.rate = .init(rule: index, value: rate)
                }
            }
        }
        if let drop = decision.drop {
            // A lost datagram has no other effect; the chains above still advanced.
            decision = DatagramDecision(datagram: ordinal)
            decision.drop = drop
        }
        return decision
    }

    /// The rule at `index`, for naming it in events.
    public func rule(_ index: Int) -> DatagramFaultRule {
        self.rules[index]
    }

    public var isEmpty: Bool {
        self.rules.isEmpty
    }
}
