import Yams

/// `bandwidth`: at most so many bytes per second in the rule's direction (each direction
/// separately when the rule covers both).
///
///     fault: {kind: bandwidth, bytes_per_second: 2048}
package struct BandwidthFault: Fault {
    package static let kind = "bandwidth"
    package static let summary = "limit the rate in bytes per second, per direction"
    package static let parameters = ["bytes_per_second"]

    package var bytesPerSecond: Int

    package init(bytesPerSecond: Int) {
        self.bytesPerSecond = bytesPerSecond
    }

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        guard let node = reader.required(parameters, "bytes_per_second", what: "bandwidth fault"),
            let rate = reader.integer(node, what: "bytes_per_second", in: 1...Int(Int32.max))
        else { return nil }
        self.init(bytesPerSecond: rate)
    }

    package var params: [String: String] {
        ["bytes_per_second": String(self.bytesPerSecond)]
    }

    package var explanation: String {
        "lets at most \(self.bytesPerSecond) bytes per second through"
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        .throttle(bytesPerSecond: self.bytesPerSecond)
    }
}
