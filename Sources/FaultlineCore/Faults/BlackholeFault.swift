import Yams

/// `blackhole`: the connection stays open and nothing more passes in the direction,
/// FIN included. With both directions: a network partition.
///
///     fault: {kind: blackhole}
public struct BlackholeFault: Fault {
    public static let kind = "blackhole"
    public static let summary = "keep the connection open but let nothing more through (a partition)"
    public static let parameters: [String] = []

    public init() {}

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        self.init()
    }

    public var params: [String: String] { [:] }

    public var explanation: String {
        "keeps the connection open but silently discards everything from then on, end of stream included"
    }

    public func effect(random: inout DecisionRandom) -> FaultEffect {
        .blackhole
    }
}
