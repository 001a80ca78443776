import Yams

/// `duplicate` on UDP: the datagram is sent, then `copies` more times, copy *k* at
/// *k* × `gap`, as a retransmitting middlebox or a routing loop would send them. Copies
/// are counted as duplicated, never as received, so accounting still adds up.
///
///     fault: {kind: duplicate, copies: 1, gap: 5ms}
public struct DatagramDuplicateFault: DatagramFaultKind {
    public static let kind = "duplicate"
    public static let summary = "UDP: send the datagram again, copies times, gap apart"
    public static let parameters = ["copies", "gap"]
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

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        let copies = reader.optional(parameters, "copies") {
            reader.integer($0, what: "copies (extra copies after the original)", in: 1...Self.maximumCopies)
        }
        let gap = reader.optional(parameters, "gap") { reader.duration($0, what: "gap") }
        guard !parameters.has("copies") || copies != nil, !parameters.has("gap") || gap != nil else { return nil }
        self.init(copies: copies ?? 1, gap: gap ?? .zero)
    }

    public var params: [String: String] {
        ["copies": String(self.copies), "gap": DurationText.format(self.gap)]
    }

    public var explanation: String {
        let times = self.copies == 1 ? "once more" : "\(self.copies) more times"
        let gap = self.gap == .zero ? "right behind it" : "\(DurationText.format(self.gap)) apart"
        return "sends the datagram, then \(times), \(gap), so it arrives \(self.copies + 1) times"
    }

    public func effect(random: inout DecisionRandom) -> FaultEffect {
        .datagram(.duplicate(copies: self.copies, gap: self.gap))
    }
}
