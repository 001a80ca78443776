/// What the UDP engine does to one datagram for one decision (`FaultEffect.datagram`):
/// the effects only datagrams have. A datagram's `delay` is `FaultEffect.delay`, drawn
/// by `DelayFault` as on TCP (but each datagram leaves on its own, so order is not kept).
///
/// Values, not behaviour: the UDP fault stage carries them out, composing the effects
/// that fired for one datagram in this order (`docs/udp.md` draws it):
///
///     corrupt ─▶ reorder (hold) ─▶ delay ─▶ original + copies ─▶ rate ─▶ socket
public enum DatagramEffect: Sendable, Equatable {
    /// Discard the datagram (`loss`).
    case drop
    /// Send it, then `copies` more: copy *k* leaves *k* × `gap` after the original.
    case duplicate(copies: Int, gap: Duration)
    /// Hold it until `after` later datagrams of its session and direction arrived (nil:
    /// only the time limit), or until `delay` passed, whichever is first.
    case reorder(after: Int?, delay: Duration)
    /// Flip bits: each with chance `rate`, or exactly one when nil; the positions come
    /// from `entropy` and the datagram's size (`DatagramCorruptFault.bits`).
    case corrupt(rate: Double?, entropy: UInt64)
    /// Pass it through the rule's token bucket: it leaves, waits, or is dropped.
    case rate(DatagramRate)

    /// The event log's `action` word, as TCP's: `drop`, `duplicate`, `reorder`,
    /// `corrupt`. A rate decision is logged only by what the bucket did (`queue`, `drop`).
    public var action: String {
        switch self {
        case .drop: "drop"
        case .duplicate: "duplicate"
        case .reorder: "reorder"
        case .corrupt: "corrupt"
        case .rate: "rate"
        }
    }
}
