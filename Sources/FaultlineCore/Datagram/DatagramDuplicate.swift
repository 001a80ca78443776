/// `duplicate`: the datagram is sent, then sent again `copies` more times.
///
/// With no `gap` the copies leave right behind the original; with a gap, copy `k` leaves
/// `k × gap` after it, as a retransmitting middlebox or a routing loop would send them.
/// Copies are counted as duplicated, never as received, so accounting still adds up.
///
/// ```yaml
/// fault: {kind: duplicate, copies: 1, gap: 5ms}      # arrives twice, 5 ms apart
/// ```
public struct DatagramDuplicate: Decodable, Sendable, Equatable {
    public static let kind = "duplicate"
    /// The most copies one datagram may get: enough to model any real duplication.
    public static let maximumCopies = 16

    /// Extra copies after the original (1: the datagram arrives twice).
    public var copies: Int
    /// Time between the original and the first copy, and between copies.
    public var gap: Duration

    public init(copies: Int = 1, gap: Duration = .zero) {
        self.copies = copies
        self.gap = gap
    }

    public func validate() throws(InvalidInputError) {
        guard (1...Self.maximumCopies).contains(self.copies) else {
            throw InvalidInputError("duplicate: copies is the number of extra copies, from 1 to \(Self.maximumCopies), got \(self.copies)")
        }
    }

    enum CodingKeys: String, CodingKey {
        case copies, gap
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.copies = try container.decodeIfPresent(Int.self, forKey: .copies) ?? 1
        self.gap = try DatagramDecoding.duration(container, .gap) ?? .zero
        try DatagramDecoding.check(container, .copies) { () throws(InvalidInputError) in try self.validate() }
    }
}
