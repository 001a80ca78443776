import Yams

/// `slice`: pass data in small writes with gaps between them, so a client that assumes
/// one read is one message breaks.
///
///     fault: {kind: slice, size: 1, gap: 5ms}
package struct SliceFault: Fault {
    package static let kind = "slice"
    package static let summary = "split data into small writes with gaps between them"
    package static let parameters = ["size", "gap"]

    package var size: Int
    package var gap: Duration

    package init(size: Int, gap: Duration = .zero) {
        self.size = size
        self.gap = gap
    }

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        let size = reader.required(parameters, "size", what: "slice fault").flatMap { reader.integer($0, what: "size", in: 1...Int(Int32.max)) }
        let gap = reader.optional(parameters, "gap") { reader.duration($0, what: "gap") }
        guard let size, parameters["gap"] == nil || gap != nil else { return nil }
        self.init(size: size, gap: gap ?? .zero)
    }

    package var params: [String: String] {
        ["size": String(self.size), "gap": DurationText.format(self.gap)]
    }

    package var explanation: String {
        "splits data into writes of at most \(self.size) byte\(self.size == 1 ? "" : "s"), \(DurationText.format(self.gap)) apart"
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        .slice(bytes: self.size, gap: self.gap)
    }
}
