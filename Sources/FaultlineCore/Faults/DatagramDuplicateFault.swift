import Yams

/// `duplicate` on UDP: the datagram is sent, then `copies` more times, copy *k* at
/// *k* × `gap`.
///
///     fault: {kind: duplicate, copies: 1, gap: 5ms}
public struct DatagramDuplicateFault: DatagramFaultKind {
    public static let kind = DatagramDuplicate.kind
    public static let summary = "UDP: send the datagram again, copies times, gap apart"
    public static let parameters = ["copies", "gap"]

    public var duplicate: DatagramDuplicate

    public init(_ duplicate: DatagramDuplicate = DatagramDuplicate()) {
        self.duplicate = duplicate
    }

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        let copies = reader.optional(parameters, "copies") {
            reader.integer($0, what: "copies (extra copies after the original)", in: 1...DatagramDuplicate.maximumCopies)
        }
        let gap = reader.optional(parameters, "gap") { reader.duration($0, what: "gap") }
        guard !parameters.has("copies") || copies != nil, !parameters.has("gap") || gap != nil else { return nil }
        self.init(DatagramDuplicate(copies: copies ?? 1, gap: gap ?? .zero))
    }

    public var datagramFault: DatagramFault { .duplicate(self.duplicate) }

    public var params: [String: String] {
        ["copies": String(self.duplicate.copies), "gap": DurationText.format(self.duplicate.gap)]
    }

    public var explanation: String {
        let times = self.duplicate.copies == 1 ? "once more" : "\(self.duplicate.copies) more times"
        let gap = self.duplicate.gap == .zero ? "right behind it" : "\(DurationText.format(self.duplicate.gap)) apart"
        return "sends the datagram, then \(times), \(gap), so it arrives \(self.duplicate.copies + 1) times"
    }
}
