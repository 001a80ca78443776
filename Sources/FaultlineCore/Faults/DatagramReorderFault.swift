import Yams

/// `reorder` on UDP: the datagram is held back and released after the next `after`
/// datagrams of its session and direction arrived, or after `delay`, whichever is first.
///
///     fault: {kind: reorder, after: 2, delay: 50ms}
public struct DatagramReorderFault: DatagramFaultKind {
    public static let kind = DatagramReorder.kind
    public static let summary = "UDP: hold the datagram until the next N arrived (or a delay passed), so it arrives late"
    public static let parameters = ["after", "delay"]

    public var reorder: DatagramReorder

    public init(_ reorder: DatagramReorder) {
        self.reorder = reorder
    }

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        let after = reader.optional(parameters, "after") {
            reader.integer($0, what: "after (a count of later datagrams)", in: 1...DatagramReorder.maximumAfter)
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
        self.init(DatagramReorder(after: after, delay: delay))
    }

    public var datagramFault: DatagramFault { .reorder(self.reorder) }

    public var params: [String: String] {
        var params: [String: String] = [:]
        if let after = self.reorder.after { params["after"] = String(after) }
        if let delay = self.reorder.delay { params["delay"] = DurationText.format(delay) }
        return params
    }

    public var explanation: String {
        let later = { (after: Int) in "\(after) later \(after == 1 ? "datagram" : "datagrams") arrived" }
        switch (self.reorder.after, self.reorder.delay) {
        case (let after?, let delay?):
            return "holds the datagram back until \(later(after)) or \(DurationText.format(delay)) passed, whichever is first, so it arrives out of order"
        case (let after?, nil):
            return "holds the datagram back until \(later(after)) (at most \(DurationText.format(DatagramReorder.defaultDelay))), so it arrives out of order"
        case (nil, let delay?):
            return "holds the datagram back for \(DurationText.format(delay)), letting later ones overtake it"
        case (nil, nil):
            return "holds the datagram back"
        }
    }
}
