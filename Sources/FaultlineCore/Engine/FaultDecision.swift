/// One fault that fired: which rule, what it does, and where in the traffic. The engine
/// carries out `effect` and records the decision as an `Event(.fault)`.
package struct FaultDecision: Sendable, Equatable {
    package var rule: String
    /// The number of the plan the rule came from (`LivePlan.Version`): the `plan` of
    /// its `fault` event.
    package var plan: UInt64
    package var kind: String
    package var effect: FaultEffect
    /// The rule's parameters plus what was drawn (`delay`, `at_byte`).
    package var params: [String: String]
    /// Nil for decisions about the whole connection (refuse, a timed sever).
    package var direction: Event.Direction?
    /// The chunk ordinal in `direction`; nil for per-connection decisions.
    package var unit: UInt64?

    package init(
        rule: String,
        plan: UInt64 = 1,
        kind: String,
        effect: FaultEffect,
        params: [String: String],
        direction: Event.Direction? = nil,
        unit: UInt64? = nil
    ) {
        self.rule = rule
        self.plan = plan
        self.kind = kind
        self.effect = effect
        self.params = params
        self.direction = direction
        self.unit = unit
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
