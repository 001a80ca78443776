import Yams

/// `drop`: the matched message is silently discarded. A dropped request never reaches
/// the server (request lost); a dropped reply means the server did the work and the
/// client never hears (reply lost). The connection stays open either way.
///
///     fault: {kind: drop}
package struct DropFault: MessageFault {
    package static let kind = "drop"
    package static let summary = "discard the matched message (a request never reaches the server, or a reply never reaches the client)"
    package static let parameters: [String] = []
    package static var layer: FaultLayer { .message }
    package static var scopes: [DecisionScope] { [.connection, .message] }

    package init() {}

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        self.init()
    }

    package var actsOnMessages: Bool { true }
    package var requestsOnly: Bool { false }

    package var params: [String: String] { [:] }

    package var explanation: String {
        "discards the message: a request never reaches the server, a reply never reaches the client, and the connection stays open"
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        .message(.drop)
    }
}
