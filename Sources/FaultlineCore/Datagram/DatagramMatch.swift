/// Which datagrams of the rule's direction a rule considers, by position: session
/// ordinals and datagram ordinals (each from 0, in arrival order). Absent means all.
///
/// Positions first, so profiles stay portable; a profile may also name client address
/// blocks (`match.client`), checked once per session. This is how a profile says
/// "lose the first reply" or "hold the third request" (`match.connections` and
/// `match.message` fill the ordinal sets), and how tests script a fault for one
/// datagram without relying on chance. The compact JSON form takes ranges:
///
/// ```json
/// "match": {"datagram": 0}                                   // each session's first
/// "match": {"session": [0, 9], "datagram": [100, 199]}       // inclusive ranges
/// ```
public struct DatagramMatch: Decodable, Sendable, Equatable {
    public var sessions: ClosedRange<UInt64>?
    public var datagrams: ClosedRange<UInt64>?
    /// A profile's `match.connections` (`first`, `every`, `skip`), read as session
    /// ordinals; must hold too.
    public var sessionOrdinals: ConnectionOrdinals?
    /// A profile's `match.message` ordinals, read as datagram ordinals; must hold too.
    public var datagramOrdinals: ConnectionOrdinals?
    /// A profile's `match.client`: the session's client address must be in it.
    public var client: AddressMatch?

    public init(
        sessions: ClosedRange<UInt64>? = nil,
        datagrams: ClosedRange<UInt64>? = nil,
        sessionOrdinals: ConnectionOrdinals? = nil,
        datagramOrdinals: ConnectionOrdinals? = nil,
        client: AddressMatch? = nil
    ) {
        self.sessions = sessions
        self.datagrams = datagrams
        self.sessionOrdinals = sessionOrdinals
        self.datagramOrdinals = datagramOrdinals
        self.client = client
    }

    /// Whether a session whose client is at `address` (host and port text) is selected
    /// by the client match; an unknown address is not.
    public func selects(client address: String?) -> Bool {
        guard let match = self.client else { return true }
        guard let address else { return false }
        return match.contains(address)
    }

    /// Matches every datagram.
    public static let all = DatagramMatch()

    public func covers(session: UInt64, datagram: UInt64) -> Bool {
        (self.sessions?.contains(session) ?? true) && (self.datagrams?.contains(datagram) ?? true)
            && (self.sessionOrdinals?.contains(session) ?? true) && (self.datagramOrdinals?.contains(datagram) ?? true)
    }

    enum CodingKeys: String, CodingKey {
        case session, datagram
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.sessions = try Self.range(container, .session)
        self.datagrams = try Self.range(container, .datagram)
    }

    /// One ordinal (`3`) or an inclusive range as a pair (`[3, 7]`).
    private static func range(
        _ container: KeyedDecodingContainer<CodingKeys>,
        _ key: CodingKeys
    ) throws -> ClosedRange<UInt64>? {
        guard container.contains(key) else { return nil }
        if let single = try? container.decode(UInt64.self, forKey: key) {
            return single...single
        }
        let pair = try? container.decode([UInt64].self, forKey: key)
        guard let pair, pair.count == 2, pair[0] <= pair[1] else {
            throw DecodingError.dataCorruptedError(
                forKey: key,
                in: container,
                debugDescription: "\(key.stringValue) is an ordinal from 0 (3) or an inclusive range ([3, 7])"
            )
        }
        return pair[0]...pair[1]
    }
}
