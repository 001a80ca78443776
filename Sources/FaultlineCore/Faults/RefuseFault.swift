import Yams

/// `refuse`: new connections are turned away: reset at once, closed at once, or
/// accepted and never served.
///
///     fault: {kind: refuse, mode: reset}
package struct RefuseFault: Fault {
    package static let kind = "refuse"
    package static let summary = "turn new connections away (reset, close, or ignore)"
    package static let parameters = ["mode"]
    package static var scopes: [DecisionScope] { [.connection] }

    package var mode: RefuseMode

    package init(mode: RefuseMode = .reset) {
        self.mode = mode
    }

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        let mode = reader.optional(parameters, "mode") { reader.choice($0, what: "mode", as: RefuseMode.self) }
        guard parameters["mode"] == nil || mode != nil else { return nil }
        self.init(mode: mode ?? .reset)
    }

    package var params: [String: String] {
        ["mode": self.mode.rawValue]
    }

    package var explanation: String {
        switch self.mode {
        case .reset: "resets new connections at once, before any byte reaches the service (ECONNRESET)"
        case .close: "closes new connections at once, before any byte reaches the service (end of stream)"
        case .ignore: "accepts new connections but never serves them: no bytes, no close"
        }
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        .refuse(self.mode)
    }

    /// Clients a refuse rule turned away, as every summary says them (`log summary`,
    /// `run`'s summary): apart from connections, which they never became.
    package static func refused(_ count: Int) -> String {
        "\(count) refused (turned away by a refuse rule, never let in)"
    }
}
