/// A fault kind the UDP engine carries out. The datagram kinds conform through
/// `DatagramFaultKind`; `delay`, a stream kind, conforms too, because the UDP engine
/// delays each datagram on its own.
public protocol DatagramCarried: Fault {
    /// What it does to a datagram, for `faultline profile explain` on a UDP profile.
    var datagramExplanation: String { get }
}

/// A fault kind only UDP datagrams have (`loss`, `duplicate`, `reorder`, `corrupt`,
/// `rate`): `layer: .datagram`, decided per datagram, its effect a `DatagramEffect`.
///
/// A profile writes it like every kind, `fault: {kind: loss, model: gilbert_elliott,
/// p: 0.02, r: 0.3}`, in a profile that says `transport: udp`.
public protocol DatagramFaultKind: DatagramCarried {}

extension DatagramFaultKind {
    public static var layer: FaultLayer { .datagram }
    public static var scopes: [DecisionScope] { [.message] }

    public var datagramExplanation: String { self.explanation }
}

/// A fault whose decision for one unit depends on the units before it in the same
/// connection (or session) and direction: UDP's Gilbert-Elliott loss. The engine calls
/// it for every unit its rule covers, whether or not the rule's chance fired, and keeps
/// `state` between units (`ConnectionFaults`), across plan changes that keep the rule.
package protocol ChainedFault: Fault {
    /// The effect for one unit, nil when none; moves `state` on. `fired` is the rule's
    /// chance for this unit, drawn first from `random`.
    func effect(fired: Bool, state: inout Bool, random: inout DecisionRandom) -> FaultEffect?
}

/// What chained rules carry from unit to unit, by rule (its name's key) and direction:
/// kept by whoever owns the units (a UDP session's stage), so it outlives plan changes
/// and a rule kept across one goes on where it was.
package struct ChainStates: Sendable {
    var bad: [UInt64: Bool] = [:]

    package init() {}
}

extension DelayFault: DatagramCarried {
    /// Unlike TCP's, a datagram's delay does not keep order: each draws its own.
    public var datagramExplanation: String {
        if self.jitter == .zero {
            return "holds each datagram for \(DurationText.format(self.latency)) before sending it on"
        }
        let spread = self.distribution == .uniform ? "± \(DurationText.format(self.jitter)), uniformly" : "with a standard deviation of \(DurationText.format(self.jitter)) (normal)"
        return "holds each datagram for \(DurationText.format(self.latency)) \(spread), drawn per datagram, so a later datagram can overtake an earlier one"
    }
}
