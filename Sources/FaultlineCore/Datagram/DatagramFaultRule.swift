/// One UDP fault rule: which direction it watches, how likely it fires for each
/// datagram, and what it does then.
///
/// Rules say *what goes wrong*, never *which hosts*. A `transport: udp` profile's
/// rule becomes one (`Profile.datagramRules()`):
///
/// ```yaml
/// - name: lossy-uplink
///   match: {direction: upstream, message: {first: 100}}   # default: both, every datagram
///   probability: 0.2                                       # default 1
///   fault: {kind: loss}
/// ```
///
/// For `loss` with `model: gilbert_elliott` and for `rate`, the probability gates
/// whether a datagram is subject to the fault at all; the chain and the bucket still
/// see every datagram in the rule's direction.
public struct DatagramFaultRule: Decodable, Sendable, Equatable {
    /// Which datagrams a rule watches.
    public enum Direction: String, Decodable, Sendable, Equatable {
        /// Client to upstream.
        case upstream
        /// Upstream to client.
        case downstream
        case both

        public func covers(_ direction: Event.Direction) -> Bool {
            switch self {
            case .both: true
            case .upstream: direction == .upstream
            case .downstream: direction == .downstream
            }
        }
    }

    /// The rule's name, as events name it.
    public var name: String
    public var direction: Direction
    /// Which datagrams, by position, the rule considers (all by default).
    public var match: DatagramMatch
    /// Chance the rule fires for a datagram, from 0 to 1.
    public var probability: Double
    public var fault: DatagramFault
    /// When the rule may act, from the proxy's start or the session's first datagram
    /// (`from: connection`); nil: always.
    public var window: TimeWindow?

    public init(
        name: String,
        direction: Direction = .both,
        match: DatagramMatch = .all,
        probability: Double = 1,
        fault: DatagramFault,
        window: TimeWindow? = nil
    ) {
        self.window = window
        self.name = name
        self.direction = direction
        self.match = match
        self.probability = probability
        self.fault = fault
    }

    /// Rejects a probability outside [0, 1] and bad fault parameters, naming the rule.
    public func validate() throws(InvalidInputError) {
        guard self.probability >= 0, self.probability <= 1 else {
            throw InvalidInputError("rule '\(self.name)': probability is from 0 to 1, got \(self.probability)")
        }
        do {
            try self.fault.validate()
        } catch {
            throw InvalidInputError("rule '\(self.name)': \(error.message)")
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, direction, match, probability, fault
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        self.direction = try container.decodeIfPresent(Direction.self, forKey: .direction) ?? .both
        self.match = try container.decodeIfPresent(DatagramMatch.self, forKey: .match) ?? .all
        self.probability = try DatagramDecoding.probability(container, .probability) ?? 1
        self.fault = try container.decode(DatagramFault.self, forKey: .fault)
    }
}
