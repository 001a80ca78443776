/// One datagram fault with its parameters: what a UDP rule does when it fires.
///
/// Profiles describe it with a `DatagramCarried` kind (`fault: {kind: loss, ...}`).
/// For programs that build rules without a profile it also decodes from a compact
/// one-key object naming the kind: `{"loss": {"model": "gilbert_elliott", "p": 0.02,
/// "r": 0.3}}`.
public enum DatagramFault: Decodable, Sendable, Equatable {
    case loss(DatagramLoss)
    case duplicate(DatagramDuplicate)
    case reorder(DatagramReorder)
    case delay(DatagramDelay)
    case corrupt(DatagramCorrupt)
    case rate(DatagramRate)

    /// Every kind's profile spelling, in the order the docs list them.
    public static let kinds = [
        DatagramLoss.kind, DatagramDuplicate.kind, DatagramReorder.kind,
        DatagramDelay.kind, DatagramCorrupt.kind, DatagramRate.kind,
    ]

    /// The profile spelling of this fault's kind, as the event log's `kind` writes it.
    public var kind: String {
        switch self {
        case .loss: DatagramLoss.kind
        case .duplicate: DatagramDuplicate.kind
        case .reorder: DatagramReorder.kind
        case .delay: DatagramDelay.kind
        case .corrupt: DatagramCorrupt.kind
        case .rate: DatagramRate.kind
        }
    }

    /// Decodes the parameters of the kind named `kind` from `decoder`.
    ///
    /// - Throws: `DecodingError` for bad parameters, or an unknown kind.
    public init(kind: String, from decoder: any Decoder) throws {
        switch kind {
        case DatagramLoss.kind: self = .loss(try DatagramLoss(from: decoder))
        case DatagramDuplicate.kind: self = .duplicate(try DatagramDuplicate(from: decoder))
        case DatagramReorder.kind: self = .reorder(try DatagramReorder(from: decoder))
        case DatagramDelay.kind: self = .delay(try DatagramDelay(from: decoder))
        case DatagramCorrupt.kind: self = .corrupt(try DatagramCorrupt(from: decoder))
        case DatagramRate.kind: self = .rate(try DatagramRate(from: decoder))
        default:
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "'\(kind)' is not a UDP fault; use one of \(Self.kinds.joined(separator: ", "))"
                )
            )
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        guard container.allKeys.count == 1, let key = container.allKeys.first else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "a fault names exactly one kind: \(Self.kinds.joined(separator: ", "))"
                )
            )
        }
        try self.init(kind: key.stringValue, from: try container.superDecoder(forKey: key))
    }

    /// Rejects parameters out of range (decoding already did; this is for values built
    /// in code).
    public func validate() throws(InvalidInputError) {
        switch self {
        case .loss(let fault): try fault.validate()
        case .duplicate(let fault): try fault.validate()
        case .reorder(let fault): try fault.validate()
        case .delay: break
        case .corrupt(let fault): try fault.validate()
        case .rate(let fault): try fault.validate()
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
