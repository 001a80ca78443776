import FaultlineCore

/// A read of the service's state, sent before and after each experiment (`--probe`).
///
/// HTTP: `GET /accounts/1` becomes a minimal HTTP/1.1 request with the target as
/// `Host`. RESP: `GET counter` becomes a RESP array of bulk strings. Line: the text
/// and a newline. For HTTP only a path is accepted, never a URL: probes, like every request, go to `--target` and nowhere else.
package struct StateProbe: Sendable, Equatable {
    var text: String
    var bytes: [UInt8]

    /// The probe `text` as `wire` sends it to `target`, or why it cannot be sent (in
    /// `check idempotency`'s words: `--probe`, `--target`).
    package static func parse(_ text: String, wire: ReplayProtocol, target: HostPort) throws -> StateProbe {
        let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        switch wire {
        case .http:
            guard words.count == 2, words[0].allSatisfy({ $0.isASCII && $0.isLetter }) else {
                throw InvalidInputError("--probe '\(text)': give an HTTP method and a path, as in --probe 'GET /accounts/1'")
            }
            guard words[1].hasPrefix("/") else {
                throw InvalidInputError(
                    "--probe '\(text)': give a path starting with '/', not a URL: every request goes to --target \(target) only"
                )
            }
            let head = "\(words[0].uppercased()) \(words[1]) HTTP/1.1\r\nHost: \(target)\r\nAccept: */*\r\n\r\n"
            return StateProbe(text: text, bytes: Array(head.utf8))
        case .line:
            guard !words.isEmpty else { throw InvalidInputError("--probe '': give the line to send, as in --probe 'balance'") }
            return StateProbe(text: text, bytes: Array((text + "\n").utf8))
        case .resp:
            guard !words.isEmpty else { throw InvalidInputError("--probe '': give a command, as in --probe 'GET counter'") }
            return StateProbe(text: text, bytes: RESPCommand.encode(words))
        }
    }
}

/// What the probes read at one moment, one reading per `--probe`.
struct StateSnapshot: Equatable {
    var readings: [ReplyView]

    func changed(from earlier: StateSnapshot) -> Bool {
        self.readings.map(\.body) != earlier.readings.map(\.body) || self.readings.map(\.status) != earlier.readings.map(\.status)
    }

    /// The numbers read now minus those read `earlier`, when both read the same count.
    func delta(from earlier: StateSnapshot) -> [Double]? {
        let now = self.readings.flatMap(\.numbers)
        let then = earlier.readings.flatMap(\.numbers)
        guard now.count == then.count, !now.isEmpty else { return nil }
        return zip(now, then).map { $0 - $1 }
    }

    /// On one line: a body's trailing line end is dropped and any other control byte is
    /// shown escaped (`ReplyView.shown`), so a reading never breaks a progress line or a
    /// report's row, nor reaches a terminal as an escape sequence.
    var summary: String {
        self.readings.map { reading in
            let body = reading.shown.count > 80 ? String(reading.shown.prefix(80)) + "…" : reading.shown
            return reading.status.map { "\($0) \(body)" } ?? body
        }.joined(separator: " | ")
    }

    /// How many times `unit` (one application's delta) fits in `total`, when it fits a
    /// whole number of times; nil when the probe's numbers cannot say.
    static func effects(total: [Double], unit: [Double]) -> Int? {
        guard total.count == unit.count, let index = unit.firstIndex(where: { $0 != 0 }) else { return nil }
        let ratio = total[index] / unit[index]
        let rounded = ratio.rounded()
        // A probe's numbers are the service's: a ratio of 1e300 is no count (and no Int).
        guard abs(ratio - rounded) < 1e-9, rounded >= 0, rounded < Double(Int.max) else { return nil }
        for (t, u) in zip(total, unit) where abs(t - rounded * u) > 1e-9 { return nil }
        return Int(rounded)
    }
}
