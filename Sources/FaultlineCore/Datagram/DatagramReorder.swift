/// `reorder`: the datagram is held back and released after the next `after` datagrams
/// of its session and direction have arrived, or once `delay` has passed, whichever
/// comes first.
///
///     in:   1 2 3 4 5          (2 held, after: 2)
///     out:  1 3 4 2 5
///
/// Datagrams count as "next" when they arrive, whatever their own fate (lost, held,
/// delayed), so holding every datagram still makes progress. With only `after`, a hold
/// also ends after `defaultDelay` (1 s), so a session that goes quiet never strands a
/// datagram; with only `delay`, the datagram is simply let past by those behind it.
///
/// ```yaml
/// fault: {kind: reorder, after: 2}
/// fault: {kind: reorder, after: 3, delay: 50ms}
/// ```
public struct DatagramReorder: Decodable, Sendable, Equatable {
    public static let kind = "reorder"
    /// How long a hold lasts when only `after` is given.
    public static let defaultDelay: Duration = .seconds(1)
    public static let maximumAfter = 1024

    /// Release after this many later datagrams arrived.
    public var after: Int?
    /// Release after this long at the latest.
    public var delay: Duration?

    public init(after: Int? = nil, delay: Duration? = nil) {
        self.after = after
        self.delay = delay
    }

    /// The hold's time limit: `delay`, or `defaultDelay` when only `after` is given.
    public var effectiveDelay: Duration {
        self.delay ?? Self.defaultDelay
    }

    public func validate() throws(InvalidInputError) {
        if self.after == nil && self.delay == nil {
            throw InvalidInputError("reorder: give after (a count of later datagrams) or delay (a duration), or both")
        }
        if let after = self.after, !(1...Self.maximumAfter).contains(after) {
            throw InvalidInputError("reorder: after counts later datagrams, from 1 to \(Self.maximumAfter), got \(after)")
        }
    }

    enum CodingKeys: String, CodingKey {
        case after, delay
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.after = try container.decodeIfPresent(Int.self, forKey: .after)
        self.delay = try DatagramDecoding.duration(container, .delay)
        try DatagramDecoding.check(container, .after) { () throws(InvalidInputError) in try self.validate() }
    }
}
