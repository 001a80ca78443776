import Yams

/// `corrupt`: random bits of the datagram flip; its length never changes (UDP only).
///
///     fault: {kind: corrupt, rate: 0.001}
public struct DatagramCorruptFault: DatagramFaultKind {
    public static let kind = DatagramCorrupt.kind
    public static let summary = "UDP: flip random bits of the datagram (each with chance rate, or exactly one)"
    public static let parameters = ["rate"]

    public var corrupt: DatagramCorrupt

    public init(_ corrupt: DatagramCorrupt = DatagramCorrupt()) {
        self.corrupt = corrupt
    }

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        let rate = reader.optional(parameters, "rate") { reader.number($0, what: "rate (each bit's chance to flip)", in: 0...1) }
        if parameters.has("rate"), rate == nil { return nil }
        if rate == 0 {
            reader.fail(parameters["rate"], "rate must be above 0 (each bit's chance to flip); leave it out to flip exactly one bit")
            return nil
        }
        self.init(DatagramCorrupt(rate: rate))
    }

    public var datagramFault: DatagramFault { .corrupt(self.corrupt) }

    public var params: [String: String] {
        self.corrupt.rate.map { ["rate": ProfileReader.format($0)] } ?? [:]
    }

    public var explanation: String {
        if let rate = self.corrupt.rate {
            return "flips each bit of the datagram with chance \(ProfileReader.format(rate)) (at least one bit), keeping its length"
        }
        return "flips one random bit of the datagram, keeping its length"
    }
}
