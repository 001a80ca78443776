/// What the rules decided for one datagram, before any clock is consulted.
///
/// At most one rule of each kind takes effect per datagram: the first in rule order
/// whose chance fired. A lost datagram has no other effect. The engine applies the rest
/// in this order, which `docs/udp.md` draws:
///
///     corrupt ─▶ reorder (hold) ─▶ delay ─▶ duplicate (copies at gaps) ─▶ rate ─▶ socket
public struct DatagramDecision: Sendable, Equatable {
    /// One rule's effect: the rule's index in the plan, and what it does.
    public struct Effect<Value: Sendable & Equatable>: Sendable, Equatable {
        public var rule: Int
        public var value: Value

        public init(rule: Int, value: Value) {
            self.rule = rule
            self.value = value
        }
    }

    /// The datagram's ordinal within its session and direction, from 0.
    public var datagram: UInt64
    /// The `loss` rule that dropped it.
    public var drop: Int?
    /// Bit offsets to flip (0 = most significant bit of byte 0), ascending.
    public var corrupt: Effect<[Int]>?
    public var hold: Effect<DatagramReorder>?
    public var delay: Effect<Duration>?
    public var duplicate: Effect<DatagramDuplicate>?
    public var rate: Effect<DatagramRate>?

    public init(datagram: UInt64) {
        self.datagram = datagram
    }

    /// True when no rule touched the datagram: it is forwarded as it came.
    public var isUntouched: Bool {
        self.drop == nil && self.corrupt == nil && self.hold == nil && self.delay == nil
            && self.duplicate == nil && self.rate == nil
    }
}
