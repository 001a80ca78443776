import Yams

/// One fault kind as a profile writes it (`fault: {kind: delay, latency: 200ms}`).
///
/// A kind reads its own parameters (so every mistake gets a line and column), says in
/// words what it does, and turns a decision into a concrete `FaultEffect`. `effect` is
/// pure: no clock, no global generator; all chance comes from `random`, built from the
/// decision's key.
///
/// Adding a kind: one file in `Faults/`, one entry in `FaultRegistry.kinds`, one
/// `FaultEffect` case if none fits, and the engine that carries it out (TCP stages, the
/// UDP engine, framed connections).
package protocol Fault: Sendable {
    /// Profile spelling and the event log's `kind`.
    static var kind: String { get }
    /// One line for `faultline profile list`-style tables and the schema.
    static var summary: String { get }
    /// The parameter keys it takes besides `kind`.
    static var parameters: [String] { get }
    /// Which traffic it acts on; a profile that cannot carry it is refused.
    static var layer: FaultLayer { get }
    /// The decision scopes that make sense for it (`per:`).
    static var scopes: [DecisionScope] { get }
    /// True when `effect` should be drawn again for every unit, even when the rule was
    /// decided once per connection (delay jitter); false when the drawn effect holds for
    /// the connection's life (a sever offset).
    static var redrawsPerUnit: Bool { get }

    /// Reads the parameters; reports problems to `reader` and returns nil when unusable.
    init?(parameters: ReaderFields, reader: ProfileReader)

    /// The parameters as the event log's `params` writes them.
    var params: [String: String] { get }
    /// What it does, in plain words, for `faultline profile explain`.
    var explanation: String { get }

    /// The concrete effect for one decision.
    func effect(random: inout DecisionRandom) -> FaultEffect
}

extension Fault {
    package static var redrawsPerUnit: Bool { false }
    package static var scopes: [DecisionScope] { [.connection, .chunk] }
    package static var layer: FaultLayer { .stream }
}

package typealias ReaderFields = ProfileReader.Fields

/// What a fault acts on.
package enum FaultLayer: String, Sendable {
    /// TCP byte streams (chunks and connections); framed connections carry these too.
    case stream
    /// Framed messages only (request lost, reply lost, duplicate request...).
    case message
    /// UDP datagrams only.
    case datagram
}

/// What the engine does for one decision. Values, not behaviour: the TCP stage, the UDP
/// engine and framed connections each carry out the cases that concern them.
package enum FaultEffect: Sendable, Equatable {
    /// Hold the unit this long before passing it on; order is kept.
    case delay(Duration)
    /// Pass at most this many bytes per second in the rule's direction.
    case throttle(bytesPerSecond: Int)
    /// Pass in pieces of `bytes`, with `gap` between pieces. With a `variation`, each
    /// piece's size is drawn uniformly in `bytes ± variation` (at least 1) from `sizes`,
    /// the generator of the unit's own decision key (`ChunkDecision.Slice`).
    case slice(bytes: Int, gap: Duration, variation: Int = 0, sizes: DecisionRandom? = nil)
    /// Hold the direction's end of stream (the FIN passed on, and the close after it)
    /// this long after it arrives; data passes untouched (`slow_close`).
    case holdClose(Duration)
    /// Discard everything in the direction from now on; the connection stays open.
    case blackhole
    /// Cut the connection.
    case sever(SeverMode, trigger: SeverTrigger)
    /// Turn a new connection away.
    case refuse(RefuseMode)
    /// Stop reading and forwarding; close with `close` after `after`, if given.
    case hang(close: SeverMode, after: Duration?)
    /// A framed-message effect (`drop`, `duplicate`, `respond`...), carried out by the
    /// message stage of a framed connection only.
    case message(MessageEffect)
    /// A UDP datagram effect (`layer: .datagram`), carried out by the UDP engine only.
    case datagram(DatagramEffect)
}

/// How a connection is cut.
package enum SeverMode: String, Sendable, CaseIterable, Equatable {
    /// RST to both peers (SO_LINGER 0): `ECONNRESET`.
    case reset
    /// FIN to both peers after what was already forwarded: a clean EOF.
    case fin
    /// FIN only in the rule's direction; the other direction keeps flowing.
    case halfClose = "half-close"
}

/// When a sever happens.
package enum SeverTrigger: Sendable, Equatable {
    /// Before the unit that was decided on.
    case now
    /// Once this many bytes have passed in the direction (counted from the connection's
    /// start); the unit that crosses the mark is split there.
    case afterBytes(Int)
    /// This long after the connection opened, whatever the traffic.
    case afterTime(Duration)
}

/// How a new connection is turned away.
package enum RefuseMode: String, Sendable, CaseIterable, Equatable {
    /// Accepted, then reset at once: the client sees `ECONNRESET`.
    case reset
    /// Accepted, then closed at once: the client sees EOF before any reply.
    case close
    /// Accepted by the kernel and never served: no bytes, no close, until the client
    /// gives up (what a client sees of a server stuck before `accept`).
    case ignore
}
