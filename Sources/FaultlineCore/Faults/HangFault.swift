import Yams

/// `hang`: stop reading and forwarding and hold the connection open (the sender's
/// socket buffers fill and it blocks), then close it after `close_after` if given.
/// Unlike `blackhole`, nothing is read: backpressure reaches the sender.
///
///     fault: {kind: hang, close_after: 30s, close: reset}
package struct HangFault: Fault {
    package static let kind = "hang"
    package static let summary = "stop forwarding and hold the connection, optionally closing it later"
    package static let parameters = ["close_after", "close"]

    package var closeAfter: Duration?
    package var close: SeverMode

    package init(closeAfter: Duration? = nil, close: SeverMode = .fin) {
        self.closeAfter = closeAfter
        self.close = close
    }

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        let after = reader.optional(parameters, "close_after") { reader.duration($0, what: "close_after") }
        let close = reader.optional(parameters, "close") { reader.choice($0, what: "close", as: SeverMode.self) }
        if close == .halfClose, let node = parameters["close"] {
            reader.fail(node, "close must be reset or fin for a hang")
            return nil
        }
        guard parameters["close_after"] == nil || after != nil, parameters["close"] == nil || close != nil else { return nil }
        self.init(closeAfter: after, close: close ?? .fin)
    }

    package var params: [String: String] {
        var params = ["close": self.close.rawValue]
        if let after = self.closeAfter { params["close_after"] = DurationText.format(after) }
        return params
    }

    package var explanation: String {
        guard let after = self.closeAfter else {
            return "stops forwarding and holds the connection open for as long as the peers keep it"
        }
        return "stops forwarding, holds the connection for \(DurationText.format(after)), then \(self.close == .reset ? "resets" : "closes") it"
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        .hang(close: self.close, after: self.closeAfter)
    }
}
