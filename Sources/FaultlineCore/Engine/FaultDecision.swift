/// One fault that fired: which rule, what it does, and where in the traffic. The engine
/// carries out `effect` and records the decision as an `Event(.fault)`.
public struct FaultDecision: Sendable, Equatable {
    public var rule: String
    /// The number of the plan the rule came from (`LivePlan.Version`): the `plan` of
    /// its `fault` event.
    public var plan: UInt64
    public var kind: String
    public var effect: FaultEffect
    /// The rule's parameters plus what was drawn (`delay`, `at_byte`).
    public var params: [String: String]
    /// Nil for decisions about the whole connection (refuse, a timed sever).
    public var direction: Event.Direction?
    /// The chunk ordinal in `direction`; nil for per-connection decisions.
    public var unit: UInt64?

    public init(
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
    public var action: String {
        switch self.effect {
        case .delay: "delay"
        case .throttle: "throttle"
        case .slice: "slice"
        case .blackhole: "blackhole"
        case .sever(let mode, _): mode.rawValue
        case .refuse(let mode): mode.rawValue
        case .hang: "hang"
        case .message(let effect): effect.action
        case .datagram(let effect): effect.action
        }
    }

    /// The decision as a `fault` event (`mono` and `proxy` are the engine's to add).
    public func event(proxy: String, connection: UInt64, mono: UInt64) -> Event {
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
