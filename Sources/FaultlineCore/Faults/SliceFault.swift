import Yams

/// `slice`: pass data in small writes with gaps between them, so a client that assumes
/// one read is one message breaks.
///
///     fault: {kind: slice, size: 8, size_variation: 3, gap: 5ms}
///
/// Each piece is `size` bytes, or with `size_variation` a size drawn uniformly in
/// `size ± size_variation` (at least 1); the last piece of a unit is what is left. The
/// sizes are drawn for each unit from its own decision key (`ChunkDecision.Slice`), even
/// when the rule is decided once per connection, so the same seed and the same traffic
/// give the same pieces.
package struct SliceFault: Fault {
    package static let kind = "slice"
    package static let summary = "split data into small writes with gaps between them"
    package static let parameters = ["size", "size_variation", "gap"]
    /// The piece sizes are drawn per unit (the chance stays per connection when asked).
    package static var redrawsPerUnit: Bool { true }

    package var size: Int
    package var variation: Int
    package var gap: Duration

    package init(size: Int, variation: Int = 0, gap: Duration = .zero) {
        self.size = size
        self.variation = max(0, variation)
        self.gap = gap
    }

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        let size = reader.required(parameters, "size", what: "slice fault").flatMap { reader.integer($0, what: "size", in: 1...Int(Int32.max)) }
        let variation = reader.optional(parameters, "size_variation") { reader.integer($0, what: "size_variation", in: 0...Int(Int32.max)) }
        let gap = reader.optional(parameters, "gap") { reader.duration($0, what: "gap") }
        guard let size, parameters["size_variation"] == nil || variation != nil, parameters["gap"] == nil || gap != nil else { return nil }
        self.init(size: size, variation: variation ?? 0, gap: gap ?? .zero)
    }

    package var params: [String: String] {
        var params = ["size": String(self.size), "gap": DurationText.format(self.gap)]
        if self.variation > 0 { params["size_variation"] = String(self.variation) }
        return params
    }

    package var explanation: String {
        let gap = DurationText.format(self.gap)
        guard self.variation > 0 else {
            return "splits data into writes of at most \(self.size) byte\(self.size == 1 ? "" : "s"), \(gap) apart"
        }
        let low = max(1, self.size - self.variation)
        return "splits data into writes of \(low) to \(self.size + self.variation) bytes (\(self.size) ± \(self.variation), drawn for each piece), \(gap) apart"
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        guard self.variation > 0 else { return .slice(bytes: self.size, gap: self.gap) }
        // The unit's own stream, from here on, draws its pieces' sizes.
        return .slice(bytes: self.size, gap: self.gap, variation: self.variation, sizes: random)
    }
}
