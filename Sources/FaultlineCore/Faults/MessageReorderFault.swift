import Yams

/// `reorder` on a framed connection: the request is held back until `after` later
/// requests of the same connection went on to the server, or for `delay`, whichever
/// comes first, so a pipelining client's requests reach the server out of order.
/// A client that waits for each reply before it sends the next request sees only a
/// delay of `delay`.
///
///     fault: {kind: reorder, after: 1, delay: 500ms}
package struct MessageReorderFault: MessageFault {
    package static let kind = "reorder"
    package static let summary = "hold the request back until the next N requests went on (or a delay), so it arrives out of order"
    package static let parameters = ["after", "delay"]
    package static var layer: FaultLayer { .message }
    package static var scopes: [DecisionScope] { [.connection, .message] }
    /// How long a held request waits for later ones when the profile does not say.
    package static let defaultDelay: Duration = .seconds(1)
    package static let maximumAfter = 64

    package var after: Int
    package var delay: Duration

    package init(after: Int = 1, delay: Duration = Self.defaultDelay) {
        self.after = after
        self.delay = delay
    }

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        let after = reader.optional(parameters, "after") {
            reader.integer($0, what: "after (a count of later requests)", in: 1...Self.maximumAfter)
        }
        let delay = reader.optional(parameters, "delay") { reader.duration($0, what: "delay") }
        guard parameters["after"] == nil || after != nil, parameters["delay"] == nil || delay != nil else { return nil }
        self.init(after: after ?? 1, delay: delay ?? Self.defaultDelay)
    }

    package var actsOnMessages: Bool { true }
    package var requestsOnly: Bool { true }

    package var params: [String: String] {
        ["after": String(self.after), "delay": DurationText.format(self.delay)]
    }

    package var explanation: String {
        let later = self.after == 1 ? "the next request" : "the next \(self.after) requests"
        return "holds the request back until \(later) on the connection went on, or for \(DurationText.format(self.delay)), whichever comes first, so pipelined requests reach the server out of order"
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        .message(.reorder(after: self.after, maxHold: self.delay))
    }
}
