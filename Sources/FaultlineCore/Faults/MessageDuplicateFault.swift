import Yams

/// `duplicate` on a framed connection: the request goes on as usual, and `copies` more
/// copies go to the upstream, each on a new connection of its own, `gap` after the
/// original. The upstream sees the request more than once (the at-least-once network);
/// each copy's reply is recorded (`duplicate_reply` event) and never sent to the client.
///
///     fault: {kind: duplicate, copies: 1, gap: 0s}
package struct MessageDuplicateFault: MessageFault {
    package static let kind = "duplicate"
    package static let summary = "deliver the request again on a second upstream connection; the copy's reply is recorded, not sent on"
    package static let parameters = ["copies", "gap"]
    package static var layer: FaultLayer { .message }
    package static var scopes: [DecisionScope] { [.connection, .message] }
    /// More copies than this would be a load test, not a fault.
    package static let maximumCopies = 8

    package var copies: Int
    package var gap: Duration

    package init(copies: Int = 1, gap: Duration = .zero) {
        self.copies = copies
        self.gap = gap
    }

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        let copies = reader.optional(parameters, "copies") {
            reader.integer($0, what: "copies (extra deliveries after the original)", in: 1...Self.maximumCopies)
        }
        let gap = reader.optional(parameters, "gap") { reader.duration($0, what: "gap") }
        guard parameters["copies"] == nil || copies != nil, parameters["gap"] == nil || gap != nil else { return nil }
        self.init(copies: copies ?? 1, gap: gap ?? .zero)
    }

    package var actsOnMessages: Bool { true }
    package var requestsOnly: Bool { true }

    package var params: [String: String] {
        ["copies": String(self.copies), "gap": DurationText.format(self.gap)]
    }

    package var explanation: String {
        let times = self.copies == 1 ? "a second time" : "\(self.copies + 1) times in all"
        let when = self.gap == .zero ? "" : ", \(DurationText.format(self.gap)) after the original"
        return "delivers the request to the server \(times), each copy on a new upstream connection\(when); the client gets only the original's reply, and each copy's reply is recorded in the log"
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        .message(.duplicate(copies: self.copies, gap: self.gap))
    }
}
