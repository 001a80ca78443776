/// One connection's fault decisions, consulted for every chunk in either direction.
///
/// A value the connection's event loop owns: the TCP engine keeps one per connection,
/// shared by the two directions' stages. Rules decided per connection are decided when
/// they are armed (at open, or when a plan change brings them) and hold from then on;
/// per-chunk rules are decided in `decide`.
package struct ConnectionFaults: Sendable {
    /// A class, not a struct: every chunk reads each armed rule, and a copy of a rule
    /// (its strings, its parameters, its fault) costs more than the decision itself.
    final class Armed: Sendable {
        /// The rule's key, parameters and layer, from the plan.
        let facts: FaultPlan.RuleFacts
        let rule: Rule
        /// For per-connection rules: the effect drawn when the connection opened, or nil
        /// when the chance said no.
        let connectionEffect: FaultEffect?

        init(facts: FaultPlan.RuleFacts, rule: Rule, connectionEffect: FaultEffect?) {
            self.facts = facts
            self.rule = rule
            self.connectionEffect = connectionEffect
        }

        /// The rule's part of decision keys: a hash of its name.
        var key: UInt64 { self.facts.key }

        /// What the rule does to one unit (chunk, message, datagram), drawn from the
        /// unit's own `random`; nil when it does nothing to it.
        func effect(random: inout DecisionRandom) -> FaultEffect? {
            switch self.rule.per {
            case .connection:
                guard let drawn = self.connectionEffect else { return nil }
                return type(of: self.rule.fault).redrawsPerUnit ? self.rule.fault.effect(random: &random) : drawn
            case .chunk, .message:
                guard random.chance(self.rule.probability) else { return nil }
                return self.rule.fault.effect(random: &random)
            }
        }
    }

    package private(set) var plan: FaultPlan
    /// The number of the plan the rules were armed from (`LivePlan.Version`).
    package private(set) var version: UInt64
    package let ordinal: UInt64
    let client: String?
    var armed: [Armed] = []
    var bytesSeen = PerDirection<Int>(0)
    var unitsSeen = PerDirection<UInt64>(0)
    /// Continuous effects (throttle, slice) already recorded, by rule key and direction.
    var announced: Set<UInt64> = []

    /// Connection `ordinal`'s state under the plan `version`, its per-connection
    /// decisions taken.
    package init(_ version: LivePlan.Version, ordinal: UInt64, client: String?) {
        self.init(plan: version.plan, version: version.number, ordinal: ordinal, client: client)
    }

    init(plan: FaultPlan, version: UInt64 = 1, ordinal: UInt64, client: String?) {
        self.plan = plan
        self.version = version
        self.ordinal = ordinal
        self.client = client
        self.arm()
    }

    /// Arms the rules of a new plan for the rest of the connection. What was counted
    /// (bytes and units per direction) carries over, so positions keep counting from
    /// the connection's first byte; a rule kept across the change draws as before.
    ///
    /// - Returns: which rules armed before are armed still, as they were, and under
    ///   which bit (`ruleBit`): what a pacing stage holds for a rule that ended is let go.
    @discardableResult
    package mutating func adopt(_ version: LivePlan.Version) -> RuleChange {
        guard version.number != self.version else { return .none }
        let before = self.armed.map { ($0.rule, $0.facts.params) }
        let plan = self.version
        self.plan = version.plan
        self.version = version.number
        self.armed = []
        // Continuous effects are announced again, under the plan that now decides them.
        self.announced = []
        self.arm()
        return RuleChange(from: before, to: self.armed.map { ($0.rule, $0.facts.params) }, plan: plan)
    }

    /// The bit that stands for `armed[index]` in a unit's masks of the rules holding it
    /// (`ChunkDecision.delayRules`, `paceRules`): one bit each for the first 63 rules,
    /// bit 63 for all the others.
    package static func ruleBit(_ index: Int) -> UInt64 {
        1 << UInt64(min(index, 63))
    }

    /// The bits of the armed rules among `decisions` that hold a unit: those whose
    /// delay it waits for, and those whose rate or slice paces it (a message's
    /// decisions, `MessageDisposition.taken`, which name their rules).
    package func holdingRules(of decisions: [FaultDecision]) -> (delay: UInt64, pace: UInt64) {
        var delay: UInt64 = 0
        var pace: UInt64 = 0
        for decision in decisions {
            let isDelay: Bool
            switch decision.effect {
            case .delay: isDelay = true
            case .throttle, .slice: isDelay = false
            default: continue
            }
            guard let index = self.armed.firstIndex(where: { $0.rule.name == decision.rule }) else { continue }
            if isDelay { delay |= Self.ruleBit(index) } else { pace |= Self.ruleBit(index) }
        }
        return (delay, pace)
    }

    private mutating func arm() {
        for (index, rule) in self.plan.profile.rules.enumerated() {
            guard !(rule.fault is RefuseFault), rule.match.selects(connection: self.ordinal, client: self.client) else { continue }
            let facts = self.plan.facts(index)
            var connectionEffect: FaultEffect?
            if rule.per == .connection {
                var random = self.plan.random(connection: self.ordinal, unit: DecisionKey.perConnection, rule: facts.key)
                guard random.chance(rule.probability) else { continue }
                connectionEffect = rule.fault.effect(random: &random)
            }
            self.armed.append(Armed(facts: facts, rule: rule, connectionEffect: connectionEffect))
        }
    }

    /// The rules armed now, by name: a stage stopped by one of them (blackhole, hang)
    /// flows again once a plan change disarms it.
    package func isArmed(_ rule: String) -> Bool {
        self.armed.contains { $0.rule.name == rule }
    }

    /// True when no rule can act on this connection: the engine may skip its stages.
    package var isInert: Bool {
        self.armed.isEmpty
    }

    /// Severs that happen at a time after the connection opened, whatever the traffic,
    /// with the rule that decides whether it may act then.
    package var timedSevers: [(after: Duration, rule: Rule, decision: FaultDecision)] {
        self.armed.compactMap { armed in
            guard case .sever(_, .afterTime(let after))? = armed.connectionEffect, let effect = armed.connectionEffect else { return nil }
            var params = armed.facts.params
            params["after"] = DurationText.format(after)
            // The direction a timed half-close ends; nil (both) for a rule covering both.
            let direction: Event.Direction? =
                switch armed.rule.match.direction {
                case .upstream: .upstream
                case .downstream: .downstream
                case .both: nil
                }
            let decision = FaultDecision(
                rule: armed.rule.name,
                plan: self.version,
                kind: armed.rule.kind,
                effect: effect,
                params: params,
                direction: direction
            )
            return (after, armed.rule, decision)
        }
    }

    /// Decides what happens to the next chunk of `bytes` bytes in `direction`.
    ///
    /// - Parameters:
    ///   - sinceProxyStart, sinceOpen: read only for a rule with a window or under a
    ///     schedule (a clock reading made a `Duration` costs more than deciding a 0 ms
    ///     delay does).
    ///   - listing: whether `fired` lists every rule that fired. False when nothing
    ///     records the events they would make: then only a rule that stops the
    ///     direction is listed (its stage needs its name), and a rule that fires on
    ///     every chunk costs no decision value and no array.
    package mutating func decide(
        direction: Event.Direction,
        bytes: Int,
        sinceProxyStart: @autoclosure () -> Duration,
        sinceOpen: @autoclosure () -> Duration,
        listing: Bool = true
    ) -> ChunkDecision {
        let unit = self.unitsSeen[direction]
        let seen = self.bytesSeen[direction]
        self.unitsSeen[direction] = unit + 1
        self.bytesSeen[direction] = seen + bytes
        var decision = ChunkDecision(unit: unit)
        let scheduled = self.plan.profile.schedule != nil
        var elapsed: (proxy: Duration, open: Duration)?
        for (index, armed) in self.armed.enumerated() where !armed.facts.actsOnMessages {
            guard armed.rule.match.direction.covers(direction) else { continue }
            if scheduled || armed.rule.window != nil {
                let times = elapsed ?? (sinceProxyStart(), sinceOpen())
                elapsed = times
                guard self.plan.isActive(armed.rule, sinceProxyStart: times.proxy, sinceOpen: times.open) else { continue }
            }
            var random = self.plan.random(connection: self.ordinal, unit: FaultPlan.unitKey(unit, direction), rule: armed.key)
            guard let effect = armed.effect(random: &random) else { continue }
            var drawn: FaultDecision.Drawn?
            var listed = listing
            let key = direction == .upstream ? armed.key : ~armed.key
            switch effect {
            case .delay(let amount):
                decision.delay += amount
                decision.delayRules |= Self.ruleBit(index)
                drawn = .delay(amount)
            case .throttle(let rate):
                decision.bytesPerSecond = min(decision.bytesPerSecond ?? rate, rate)
                decision.paceRules |= Self.ruleBit(index)
                guard self.announced.insert(key).inserted else { continue }
            case .slice(let size, let gap, let variation, let sizes):
                if decision.slice == nil {
                    decision.slice = ChunkDecision.Slice(bytes: size, gap: gap, variation: variation, sizes: sizes)
                    decision.paceRules |= Self.ruleBit(index)
                }
                guard self.announced.insert(key).inserted else { continue }
            case .blackhole:
                guard decision.stop == nil else { continue }
                decision.stop = .blackhole
                listed = true
            case .sever(let mode, let trigger):
                guard decision.stop == nil else { continue }
                switch trigger {
                case .now:
                    decision.stop = .sever(mode, passBytes: 0)
                    drawn = .atByte(seen)
                    listed = true
                case .afterBytes(let mark):
                    guard mark >= seen, mark <= seen + bytes else { continue }
                    decision.stop = .sever(mode, passBytes: mark - seen)
                    drawn = .atByte(mark)
                    listed = true
                case .afterTime:
                    continue
                }
            case .hang(let close, let after):
                guard decision.stop == nil else { continue }
                decision.stop = .hang(close: close, after: after)
                listed = true
            case .refuse, .message, .datagram, .holdClose:
                // An end of stream is decided when it arrives (`decideEnd`).
                continue
            }
            guard listed else { continue }
            decision.fired.append(
                FaultDecision(
                    rule: armed.rule.name,
                    plan: self.version,
                    kind: armed.rule.kind,
                    effect: effect,
                    params: armed.facts.params,
                    drawn: drawn,
                    direction: direction,
                    unit: unit
                )
            )
        }
        return decision
    }
}

extension ConnectionFaults {
    /// Decides whether the end of stream in `direction` (the FIN the proxy would pass
    /// on, and the full close that follows it) is held, and for how long: the first
    /// `slow_close` rule that covers the direction and is active now. Per-connection
    /// rules use the decision taken when they were armed; `per: chunk` rules draw as
    /// the chunk after the last one (the end's place in the stream), so the same
    /// traffic ends the same way. Nil: the end passes at once.
    package func decideEnd(
        direction: Event.Direction,
        sinceProxyStart: Duration,
        sinceOpen: Duration
    ) -> FaultDecision? {
        let unit = self.unitsSeen[direction]
        for armed in self.armed where !armed.facts.actsOnMessages && armed.rule.fault is SlowCloseFault {
            let rule = armed.rule
            guard rule.match.direction.covers(direction),
                self.plan.isActive(rule, sinceProxyStart: sinceProxyStart, sinceOpen: sinceOpen)
            else { continue }
            var random = self.plan.random(connection: self.ordinal, unit: FaultPlan.unitKey(unit, direction), rule: armed.key)
            guard let effect = armed.effect(random: &random), case .holdClose = effect else { continue }
            return FaultDecision(
                rule: rule.name,
                plan: self.version,
                kind: rule.kind,
                effect: effect,
                params: armed.facts.params,
                direction: direction,
                unit: unit
            )
        }
        return nil
    }

    /// The `unit` of a decision key for message ordinals: bit 61 keeps them apart from
    /// chunk ordinals of the same connection.
    package static func messageUnit(_ ordinal: UInt64, _ direction: Event.Direction) -> UInt64 {
        FaultPlan.unitKey(ordinal | (1 << 61), direction)
    }

    /// The `unit` of a decision key for UDP datagram ordinals: `ordinal × 2`, plus 1
    /// downstream (a session has no chunks to keep apart from). UDP keyed its
    /// decisions so before its rules joined this engine; keeping it keeps every seed
    /// losing the datagrams it always lost.
    static func datagramUnit(_ ordinal: UInt64, _ direction: Event.Direction) -> UInt64 {
        ordinal &* 2 &+ (direction == .downstream ? 1 : 0)
    }

    /// Decides which message rules fire for one framed message (or UDP datagram) and
    /// what each does. The hook for framed connections and the UDP engine: they carry
    /// out the effects (a `delay` holds the message; message kinds such as drop or
    /// duplicate add their own `FaultEffect` cases). Chunk rules are not consulted.
    ///
    /// Keys: per-connection rules use the decision taken when the connection (or UDP
    /// session) opened; per-message rules draw with `messageUnit(facts.ordinal, direction)`
    /// (`datagramUnit` in a UDP plan).
    package func decideMessage(
        direction: Event.Direction,
        facts: MessageFacts,
        sinceProxyStart: Duration,
        sinceOpen: Duration
    ) -> [FaultDecision] {
        var chains = ChainStates()
        return self.decideMessage(direction: direction, facts: facts, sinceProxyStart: sinceProxyStart, sinceOpen: sinceOpen, chains: &chains)
    }

    /// `decideMessage`, for units whose owner keeps the state of chained rules
    /// (`ChainedFault`, UDP's Gilbert-Elliott loss): each draws for every unit it covers
    /// and moves its state in `chains` on.
    package func decideMessage(
        direction: Event.Direction,
        facts: MessageFacts,
        sinceProxyStart: Duration,
        sinceOpen: Duration,
        chains: inout ChainStates
    ) -> [FaultDecision] {
        var fired: [FaultDecision] = []
        for armed in self.armed where armed.facts.actsOnMessages {
            let rule = armed.rule
            guard rule.match.direction.covers(direction), rule.applies(to: direction),
                rule.match.message?.matches(facts) ?? true,
                self.plan.isActive(rule, sinceProxyStart: sinceProxyStart, sinceOpen: sinceOpen)
            else { continue }
            let unit =
                self.plan.profile.transport == .udp
                ? Self.datagramUnit(facts.ordinal, direction) : Self.messageUnit(facts.ordinal, direction)
            var random = self.plan.random(connection: self.ordinal, unit: unit, rule: armed.key)
            let drawn: FaultEffect?
            if let chained = rule.fault as? any ChainedFault {
                let chance = random.chance(rule.probability)
                let key = direction == .upstream ? armed.key : ~armed.key
                drawn = chained.effect(fired: chance, state: &chains.bad[key, default: false], random: &random)
            } else {
                drawn = armed.effect(random: &random)
            }
            guard let effect = drawn else { continue }
            var drawnParameter: FaultDecision.Drawn?
            if case .delay(let amount) = effect { drawnParameter = .delay(amount) }
            fired.append(
                FaultDecision(
                    rule: rule.name,
                    plan: self.version,
                    kind: rule.kind,
                    effect: effect,
                    params: armed.facts.params,
                    drawn: drawnParameter,
                    direction: direction,
                    unit: facts.ordinal
                )
            )
        }
        return fired
    }
}

/// What to do with one chunk: how long to hold it, how to pace it, and whether the
/// direction stops here. `fired` lists the decisions to record as events.
package struct ChunkDecision: Sendable, Equatable {
    /// Pieces of `bytes` (or, with a `variation`, each drawn uniformly in
    /// `bytes ± variation`, at least 1), `gap` apart.
    ///
    ///     chunk:   [························]          size 8, variation 3
    ///     pieces:  [·······][·········][····][··]     7, 9, 5 (drawn), 3 (the rest)
    ///
    /// The sizes come from `sizes`, the generator of the decision that sliced the unit
    /// (keyed by seed, proxy, connection, unit and direction, rule): the same seed and
    /// the same traffic give the same pieces.
    package struct Slice: Sendable, Equatable {
        package var bytes: Int
        package var gap: Duration
        package var variation: Int
        package var sizes: DecisionRandom?

        package init(bytes: Int, gap: Duration, variation: Int = 0, sizes: DecisionRandom? = nil) {
            self.bytes = bytes
            self.gap = gap
            self.variation = variation
            self.sizes = sizes
        }

        /// The size of the next piece (before it is cut to what is left of the unit).
        package mutating func nextPieceSize() -> Int {
            guard self.variation > 0, var random = self.sizes else { return max(1, self.bytes) }
            let low = max(1, self.bytes - self.variation)
            let high = max(low, self.bytes + self.variation)
            let size = low + Int(random.nextUnit() * Double(high - low + 1))
            self.sizes = random
            return min(size, high)
        }
    }

    /// What ends the direction's normal flow.
    package enum Stop: Sendable, Equatable {
        /// Discard this chunk and everything after it (end of stream included).
        case blackhole
        /// Pass the first `passBytes` of this chunk, then cut.
        case sever(SeverMode, passBytes: Int)
        /// Hold this chunk and stop reading; close after `after` if given.
        case hang(close: SeverMode, after: Duration?)
    }

    package var unit: UInt64
    package var delay: Duration = .zero
    package var bytesPerSecond: Int?
    package var slice: Slice?
    package var stop: Stop?
    package var fired: [FaultDecision] = []
    /// The rules (`ConnectionFaults.ruleBit`) whose delay the chunk waits for, and
    /// those whose rate or slice paces it: a plan change that ends one of them lets go
    /// of what it holds (`RuleChange`).
    package var delayRules: UInt64 = 0
    package var paceRules: UInt64 = 0

    package init(unit: UInt64) {
        self.unit = unit
    }

    /// Nothing to do: pass the chunk at once.
    package var isPass: Bool {
        self.delay == .zero && self.bytesPerSecond == nil && self.slice == nil && self.stop == nil
    }
}
