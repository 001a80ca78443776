/// What a plan change did to the rules armed on one connection before it, each known by
/// its bit (`ConnectionFaults.ruleBit`): which are armed still, as they were, under
/// which bit now, and which hold nothing any more (gone from the plan, or changed).
///
/// A pacing stage keeps, with every write it holds, the bits of the rules that hold it
/// (`ChunkDecision.delayRules`, `paceRules`). When the plan changes it lets go of what
/// an ended rule held, and renumbers the rest with `remap`:
///
///     before:  [slow, thin, cut]      a write held by slow (bit 0) and thin (bit 1)
///     after:   [thin, fast]           slow is gone: its delay ends now;
///                                     thin is kept: bit 1 becomes bit 0
package struct RuleChange: Sendable {
    /// A rule armed before the change, as its `fault` events named it.
    package struct Rule: Sendable, Equatable {
        package var name: String
        package var kind: String
        package var params: [String: String]
        /// The plan it came from: the `plan` of its events.
        package var plan: UInt64
    }

    /// The bits, numbered as before the change, of the rules that are no longer armed
    /// as they were: removed, or armed with other parameters (a rate relaxed, a
    /// latency changed). Bit 63, shared by every rule from the 64th on, is here whenever
    /// such a rule was armed: what they hold is let go of at any change.
    package private(set) var ended: UInt64 = 0
    /// For each kept bit before the change, its bit after it.
    private var moves: [(from: UInt64, to: UInt64)] = []
    /// The rules armed before the change, by bit.
    private var before: [(bit: UInt64, rule: Rule)] = []

    /// No change at all: nothing ends, nothing moves.
    package static let none = RuleChange()

    private init() {}

    /// The change from the rules armed in `old` to those armed in `new`, each given as
    /// (rule, its parameters) in the order they are armed. A rule is kept when the new
    /// plan arms a rule of the same name, kind, parameters, probability and scope.
    init(
        from old: [(rule: FaultlineCore.Rule, params: [String: String])],
        to new: [(rule: FaultlineCore.Rule, params: [String: String])],
        plan: UInt64
    ) {
        for (index, armed) in old.enumerated() {
            let bit = ConnectionFaults.ruleBit(index)
            self.before.append(
                (bit, Rule(name: armed.rule.name, kind: armed.rule.kind, params: armed.params, plan: plan))
            )
            let kept = new.firstIndex { candidate in
                candidate.rule.name == armed.rule.name && candidate.rule.kind == armed.rule.kind
                    && candidate.params == armed.params && candidate.rule.probability == armed.rule.probability
                    && candidate.rule.per == armed.rule.per
            }
            if let kept, index < 63, kept < 63 {
                self.moves.append((bit, ConnectionFaults.ruleBit(kept)))
            } else {
                self.ended |= bit
            }
        }
    }

    /// `bits` (rules armed before the change) renumbered for the rules armed after it;
    /// the bits of ended rules are left out.
    package func remap(_ bits: UInt64) -> UInt64 {
        guard bits != 0 else { return 0 }
        var remapped: UInt64 = 0
        for move in self.moves where bits & move.from != 0 { remapped |= move.to }
        return remapped
    }

    /// The rules armed before the change whose bits are in `bits`, in plan order.
    package func rules(in bits: UInt64) -> [Rule] {
        self.before.filter { bits & $0.bit != 0 }.map(\.rule)
    }
}
