import Yams

/// `reorder` on UDP: the datagram is held back and released after the next `after`
/// datagrams of its session and direction arrived, or after `delay`, whichever is first.
///
///     in:   1 2 3 4 5          (2 held, after: 2)
///     out:  1 3 4 2 5
///
/// Datagrams count as "next" when they arrive, whatever their own fate (lost, held,
/// delayed), so holding every datagram still makes progress. With only `after`, a hold
/// also ends after `defaultDelay` (1 s), so a session that goes quiet never strands a
/// datagram; with only `delay`, the datagram is simply let past by those behind it.
///
///     fault: {kind: reorder, after: 2, delay: 50ms}
public struct DatagramReorderFault: DatagramFaultKind {
    public static let kind = "reorder"
    public static let summary = "UDP: hold the datagram until the next N arrived (or a delay passed), so it arrives late"
    public static let parameters = ["after", "delay"]
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

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        let after = reader.optional(parameters, "after") {
            reader.integer($0, what: "after (a count of later datagrams)", in: 1...Self.maximumAfter)
        }
        let delay = reader.optional(parameters, "delay") { reader.duration($0, what: "delay") }
        guard !parameters.has("after") || after != nil, !parameters.has("delay") || delay != nil else { return nil }
        if delay == .zero {
            reader.fail(parameters["delay"], "delay must be above 0s: a hold of 0s reorders nothing")
            return nil
        }
        guard after != nil || delay != nil else {
            reader.fail(parameters.node, "a reorder fault needs 'after' (a count of later datagrams) or 'delay' (a duration), or both")
            return nil
        }
        self.init(after: after, delay: delay)
    }

    public var params: [String: String] {
        var params: [String: String] = [:]
        if let after = self.after { params["after"] = String(after) }
        if let delay = self.delay { params["delay"] = DurationText.format(delay) }
        return params
    }

    public var explanation: String {
        let later = { (after: Int) in "\(after) later \(after == 1 ? "datagram" : "datagrams") arrived" }
        switch (self.after, self.delay) {
        case (let after?, let delay?):
            return "holds the datagram back until \(later(after)) or \(DurationText.format(delay)) passed, whichever is first, so it arrives out of order"
        case (let after?, nil):
            return "holds the datagram back until \(later(after)) (at most \(DurationText.format(Self.defaultDelay))), so it arrives out of order"
        case (nil, let delay?):
            return "holds the datagram back for \(DurationText.format(delay)), letting later ones overtake it"
        case (nil, nil):
            return "holds the datagram back"
        }
    }

    public func effect(random: inout DecisionRandom) -> FaultEffect {
        .datagram(.reorder(after: self.after, delay: self.delay ?? Self.defaultDelay))
    }
}
