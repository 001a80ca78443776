import Yams

/// `slow_close`: the end of stream in the rule's direction reaches the other side
/// `delay` after it arrived, while data passes untouched (Toxiproxy's `slow_close`).
///
///     fault: {kind: slow_close, delay: 2s}
///
///     client:  ──data──FIN·······························
///     server:  ──data─────────────── delay ──────────FIN
///
/// What is held is the FIN the proxy would pass on (the peer's, or a `half-close`
/// sever's), and with it the full close that follows a peer that closed completely: the
/// destination socket stays open for `delay`, then gets FIN, then closes. Data written
/// before the end is not held (a delay or bandwidth rule still paces it, and the FIN
/// never overtakes it). A reset passes at once, and so does a cut of the whole
/// connection (sever `reset` or `fin`, a hang's close): they are not ends of stream
/// that wait. A plan change that removes the rule releases a held end at once.
package struct SlowCloseFault: Fault {
    package static let kind = "slow_close"
    package static let summary = "hold the end of stream (FIN, close) for a delay; data passes untouched"
    package static let parameters = ["delay"]
    /// An end of stream comes once per direction: decided for the connection, or as the
    /// chunk after the last one (`per: chunk`).
    package static var scopes: [DecisionScope] { [.connection, .chunk] }

    package var delay: Duration

    package init(delay: Duration) {
        self.delay = delay
    }

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        let delay = reader.required(parameters, "delay", what: "slow_close fault").flatMap { reader.duration($0, what: "delay") }
        guard let delay else { return nil }
        self.init(delay: delay)
    }

    package var params: [String: String] {
        ["delay": DurationText.format(self.delay)]
    }

    package var explanation: String {
        "holds the end of stream (FIN, then the close) for \(DurationText.format(self.delay)) after it arrives; data passes untouched"
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        .holdClose(self.delay)
    }
}
