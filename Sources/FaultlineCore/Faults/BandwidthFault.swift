import Yams

/// `bandwidth`: at most so many bytes per second in the rule's direction (each direction
/// separately when the rule covers both).
///
///     fault: {kind: bandwidth, bytes_per_second: 2048}
public struct BandwidthFault: Fault {
    public static let kind = "bandwidth"
    public static let summary = "limit the rate in bytes per second, per direction"
    public static let parameters = ["bytes_per_second"]

    public var bytesPerSecond: Int

    public init(bytesPerSecond: Int) {
        self.bytesPerSecond = bytesPerSecond
    }

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        guard let node = reader.required(parameters, "bytes_per_second", what: "bandwidth fault"),
            let rate = reader.integer(node, what: "bytes_per_second", in: 1...Int(Int32.max))
        else { return nil }
        self.init(bytesPerSecond: rate)
    }

    public var params: [String: String] {
        ["bytes_per_second": String(self.bytesPerSecond)]
    }

    public var explanation: String {
        "lets at most \(self.bytesPerSecond) bytes per second through"
    }

    public func effect(random: inout DecisionRandom) -> FaultEffect {
        .throttle(bytesPerSecond: self.bytesPerSecond)
    }
}
