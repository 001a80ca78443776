/// A fault kind the UDP engine carries out: it hands over the `DatagramFault` it
/// describes. The datagram kinds conform through `DatagramFaultKind`; `delay`, a stream
/// kind, conforms too, because the UDP engine delays each datagram on its own.
public protocol DatagramCarried: Fault {
    /// What the UDP engine does when the rule fires.
    var datagramFault: DatagramFault { get }
    /// What it does to a datagram, for `faultline profile explain` on a UDP profile.
    var datagramExplanation: String { get }
}

/// A fault kind only UDP datagrams have (`loss`, `duplicate`, `reorder`, `corrupt`,
/// `rate`): `layer: .datagram`, decided per datagram.
///
/// A profile writes it like every kind, `fault: {kind: loss, model: gilbert_elliott,
/// p: 0.02, r: 0.3}`, in a profile that says `transport: udp`.
public protocol DatagramFaultKind: DatagramCarried {}

extension DatagramFaultKind {
    public static var layer: FaultLayer { .datagram }
    public static var scopes: [DecisionScope] { [.message] }

    public var datagramExplanation: String { self.explanation }

    public func effect(random: inout DecisionRandom) -> FaultEffect {
        .datagram(self.datagramFault)
    }
}

extension DelayFault: DatagramCarried {
    public var datagramFault: DatagramFault {
        .delay(
            DatagramDelay(latency: self.latency, jitter: self.jitter, distribution: self.distribution == .normal ? .normal : .uniform)
        )
    }

    /// Unlike TCP's, a datagram's delay does not keep order: each draws its own.
    public var datagramExplanation: String {
        if self.jitter == .zero {
            return "holds each datagram for \(DurationText.format(self.latency)) before sending it on"
        }
        let spread = self.distribution == .uniform ? "± \(DurationText.format(self.jitter)), uniformly" : "with a standard deviation of \(DurationText.format(self.jitter)) (normal)"
        return "holds each datagram for \(DurationText.format(self.latency)) \(spread), drawn per datagram, so a later datagram can overtake an earlier one"
    }
}
