/// A profile bound to a seed and a proxy: the pure decision maker the engines consult.
///
/// Every chance decision builds a fresh `DecisionRandom` from its position in the
/// traffic, never from time or thread order:
/// - per connection: `DecisionKey(seed, proxy, connection, unit: .perConnection, rule)`,
///   taken once when the connection opens; the drawn parameters (a sever offset) hold for
///   its whole life, whatever other rules do;
/// - per chunk: `unit` is the chunk ordinal in its direction, with bit 62 set for
///   `downstream` so the two directions draw independently (`FaultPlan.unitKey`).
///
/// Time only gates whether a rule acts now (its window, the schedule's phase); callers
/// pass elapsed times read from their event loop.
package struct FaultPlan: Sendable {
    package let profile: Profile
    /// What the engine reads of each rule for every unit, by index, worked out once.
    private let ruleFacts: [RuleFacts]
    package let seed: UInt64
    package let proxy: UInt32

    /// A rule's facts that cost something to work out (a hash, a dictionary, casts),
    /// kept so that a rule decided on every chunk does not pay for them each time.
    struct RuleFacts: Sendable {
        /// The rule's part of its decision keys: a hash of its name.
        var key: UInt64
        /// `rule.fault.params`, for its `fault` events.
        var params: [String: String]
        /// `rule.actsOnMessages`: never decided on raw chunks.
        var actsOnMessages: Bool
    }

    package init(profile: Profile, seed: UInt64, proxy: UInt32 = 0) {
        self.profile = profile
        self.ruleFacts = profile.rules.map {
            RuleFacts(key: DecisionKey.ruleKey($0.name), params: $0.fault.params, actsOnMessages: $0.actsOnMessages)
        }
        self.seed = seed
        self.proxy = proxy
    }

    /// The `unit` of a decision key for a chunk or message ordinal in a direction.
    package static func unitKey(_ ordinal: UInt64, _ direction: Event.Direction) -> UInt64 {
        direction == .upstream ? ordinal : ordinal | (1 << 62)
    }

    /// Rule `index`'s part of decision keys: a hash of its name.
    func ruleKey(_ index: Int) -> UInt64 {
        self.ruleFacts[index].key
    }

    /// Rule `index`'s facts (key, parameters, whether it acts on messages).
    func facts(_ index: Int) -> RuleFacts {
        self.ruleFacts[index]
    }

    /// A rule's draw for one unit, keyed by the rule's name (`ruleKey`).
    func random(connection: UInt64, unit: UInt64, rule key: UInt64) -> DecisionRandom {
        DecisionRandom(DecisionKey(seed: self.seed, proxy: self.proxy, connection: connection, unit: unit, rule: key))
    }

    /// Whether `rule` may act now: its window and the schedule's phase allow it.
    package func isActive(_ rule: Rule, sinceProxyStart: Duration, sinceOpen: Duration) -> Bool {
        if let window = rule.window {
            let elapsed = window.from == .proxy ? sinceProxyStart : sinceOpen
            if !window.contains(elapsed) { return false }
        }
        if let schedule = self.profile.schedule, !schedule.allows(rule.name, at: sinceProxyStart) {
            return false
        }
        return true
    }

    /// Whether a new connection is turned away, decided before the upstream is dialled.
    package func admission(connection ordinal: UInt64, client: String?, sinceProxyStart: Duration, version: UInt64 = 1) -> FaultDecision? {
        for (index, rule) in self.profile.rules.enumerated() where rule.fault is RefuseFault {
            guard rule.match.selects(connection: ordinal, client: client),
                self.isActive(rule, sinceProxyStart: sinceProxyStart, sinceOpen: .zero)
            else { continue }
            let facts = self.ruleFacts[index]
            var random = self.random(connection: ordinal, unit: DecisionKey.perConnection, rule: facts.key)
            guard random.chance(rule.probability) else { continue }
            let effect = rule.fault.effect(random: &random)
            return FaultDecision(rule: rule.name, plan: version, kind: rule.kind, effect: effect, params: facts.params)
        }
        return nil
    }

    /// The per-connection state for connection `ordinal`, with its per-connection
    /// decisions taken.
    package func connection(_ ordinal: UInt64, client: String?) -> ConnectionFaults {
        ConnectionFaults(plan: self, ordinal: ordinal, client: client)
    }

    /// A plan that never injects anything.
    package static func passthrough(seed: UInt64 = 0, proxy: UInt32 = 0) -> FaultPlan {
        FaultPlan(profile: .none, seed: seed, proxy: proxy)
    }

    /// True when no rule could ever act on TCP streams (so the engine can skip stages).
    package var isEmpty: Bool {
        self.profile.rules.isEmpty
    }
}

extension Profile {
    /// The profile with no rules: what a proxy started without one runs.
    package static let none = Profile(name: "none", description: "no faults", rules: [])
}
