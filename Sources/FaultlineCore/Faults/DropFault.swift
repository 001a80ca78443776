import Yams

/// `drop`: the matched message is silently discarded. A dropped request never reaches
/// the server (request lost); a dropped reply means the server did the work and the
/// client never hears (reply lost). The connection stays open either way.
///
///     fault: {kind: drop}
public struct DropFault: MessageFault {
    public static let kind = "drop"
    public static let summary = "discard the matched message (a request never reaches the server, or a reply never reaches the client)"
    public static let parameters: [String] = []
    public static var layer: FaultLayer { .message }
    public static var scopes: [DecisionScope] { [.connection, .message] }

    public init() {}

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        self.init()
    }

    public var actsOnMessages: Bool { true }
    public var requestsOnly: Bool { false }

    public var params: [String: String] { [:] }

    public var explanation: String {
        "discards the message: a request never reaches the server, a reply never reaches the client, and the connection stays open"
    }

    public func effect(random: inout DecisionRandom) -> FaultEffect {
        .message(.drop)
    }
}
