/// One fault that fired: which rule, what it does, and where in the traffic. The engine
/// carries out `effect` and records the decision as an `Event(.fault)`.
package struct FaultDecision: Sendable, Equatable {
    package var rule: String
    /// The number of the plan the rule came from (`LivePlan.Version`): the `plan` of
    /// its `fault` event.
    package var plan: UInt64
    package var kind: String
    package var effect: FaultEffect
    /// Nil for decisions about the whole connection (refuse, a timed sever).
    package var direction: Event.Direction?
    /// The chunk ordinal in `direction`; nil for per-connection decisions.
    package var unit: UInt64?
    /// The rule's parameters, shared with the plan: a decision taken for every chunk
    /// must not copy them.
    private var ruleParams: [String: String]
    /// What was drawn for this decision, added to `ruleParams` only when asked for.
    private var drawn: Drawn?

    /// A parameter drawn for one decision, kept unformatted until the event is built.
    package enum Drawn: Sendable, Equatable {
        /// `delay`: the latency drawn for a chunk or message.
        case delay(Duration)
        /// `at_byte`: where in the stream a sever struck.
        case atByte(Int)
    }

    package init(
        rule: String,
        plan: UInt64 = 1,
        kind: String,
        effect: FaultEffect,
        params: [String: String],
        drawn: Drawn? = nil,
        direction: Event.Direction? = nil,
        unit: UInt64? = nil
    ) {
        self.rule = rule
        self.plan = plan
        self.kind = kind
        self.effect = effect
        self.ruleParams = params
        self.drawn = drawn
        self.direction = direction
        self.unit = unit
    }

    /// The rule's parameters plus what was drawn (`delay`, `at_byte`), as the `fault`
    /// event carries them.
    package var params: [String: String] {
        get {
            var params = self.ruleParams
            switch self.drawn {
            case .delay(let amount): params["delay"] = DurationText.format(amount)
            case .atByte(let offset): params["at_byte"] = String(offset)
            case nil: break
            }
            return params
        }
        set {
            self.ruleParams = newValue
            self.drawn = nil
        }
    }

    package static func == (lhs: FaultDecision, rhs: FaultDecision) -> Bool {
        lhs.rule == rhs.rule && lhs.plan == rhs.plan && lhs.kind == rhs.kind && lhs.effect == rhs.effect
            && lhs.direction == rhs.direction && lhs.unit == rhs.unit && lhs.params == rhs.params
    }

    /// The event log's `action` word.
    package var action: String {
        switch self.effect {
        case .delay: "delay"
        case .throttle: "throttle"
        case .slice: "slice"
        case .blackhole: "blackhole"
        case .sever(let mode, _): mode.rawValue
        case .refuse(let mode): mode.rawValue
        case .hang: "hang"
        case .holdClose: "hold_close"
        case .message(let effect): effect.action
        case .datagram(let effect): effect.action
        }
    }

    /// The decision as a `fault` event (`mono` and `proxy` are the engine's to add).
    package func event(proxy: String, connection: UInt64, mono: UInt64) -> Event {
        var event = Event(.fault)
        event.proxy = proxy
        event.conn = connection
        event.direction = self.direction
        event.unit = self.unit
        event.rule = self.rule
        event.kind = self.kind
        event.action = self.action
        event.params = self.params
        event.plan = self.plan
        event.mono = mono
        return event
    }
}
