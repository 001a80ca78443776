import Yams

/// `blackhole`: the connection stays open and nothing more passes in the direction,
/// FIN included. With both directions: a network partition.
///
///     fault: {kind: blackhole}
package struct BlackholeFault: Fault {
    package static let kind = "blackhole"
    package static let summary = "keep the connection open but let nothing more through (a partition)"
    package static let parameters: [String] = []

    package init() {}

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        self.init()
    }

    package var params: [String: String] { [:] }

    package var explanation: String {
        "keeps the connection open but silently discards everything from then on, end of stream included"
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        .blackhole
    }
}
