import Foundation

/// Says in plain words what a profile does to traffic and what a correct client should
/// do under it (`faultline profile explain`).
package enum ProfileExplainer {
    package static func explain(_ profile: Profile, width: Int = 88) -> String {
        var lines: [String] = []
        lines.append("\(profile.name)  (\(profile.source), hash \(profile.hash))")
        if !profile.extends.isEmpty {
            lines.append("builds on: \(profile.extends.joined(separator: ", "))")
        }
        if profile.transport == .udp {
            lines.append("for UDP: run it with '\(ProfileTransport.udp.command)'")
        }
        let (simulates, advice) = Self.split(profile.description)
        lines.append("")
        lines.append(contentsOf: Self.wrap(simulates, width: width))
        lines.append("")
        lines.append("What it does to traffic:")
        if profile.rules.isEmpty {
            lines.append("  - nothing: every byte passes unchanged")
        }
        for rule in profile.rules {
            lines.append(contentsOf: Self.wrap(Self.sentence(for: rule, transport: profile.transport), width: width, first: "  - ", rest: "    "))
        }
        if let schedule = profile.schedule {
            lines.append("")
            lines.append("When:")
            for phase in schedule.phases {
                let length = phase.duration.map { "for \(DurationText.format($0))" } ?? "from then on"
                let rules = phase.rules.isEmpty ? "no rule acts (traffic passes unchanged)" : "rules acting: \(phase.rules.joined(separator: ", "))"
                lines.append(contentsOf: Self.wrap("\(phase.name), \(length): \(rules)", width: width, first: "  - ", rest: "    "))
            }
            lines.append(schedule.repeats ? "  then the cycle starts again, for as long as the proxy runs" : "  after the last phase, no scheduled rule acts")
        }
        if let seed = profile.seed {
            lines.append("")
            lines.append("Seed \(seed) is written in the profile: the same traffic gets the same faults on every run.")
        }
        lines.append("")
        lines.append("What a correct client should do:")
        var hints: [String] = []
        if let advice { hints.append(advice) }
        for kind in Set(profile.rules.map(\.kind)).sorted() {
            let datagramHint = profile.transport == .udp ? Self.datagramHints[kind] : nil
            if let hint = datagramHint ?? Self.hints[kind] { hints.append(hint) }
        }
        for hint in hints {
            lines.append(contentsOf: Self.wrap(hint, width: width, first: "  - ", rest: "    "))
        }
        return lines.joined(separator: "\n")
    }

    /// One rule as a sentence: where, how often, what, when.
    package static func sentence(for rule: Rule, transport: ProfileTransport = .tcp) -> String {
        var parts: [String] = []
        // UDP decides every rule per datagram, and its connections are sessions.
        let unit = transport == .udp ? "datagram" : rule.per.rawValue
        let whole = transport == .udp ? "session" : "connection"
        let chance: String
        if rule.probability >= 1 {
            chance = rule.per == .connection ? "on every connection" : "on every \(unit)"
        } else {
            let percent = rule.probability * 100
            let shown = percent == percent.rounded() ? String(Int(percent)) : String(format2(percent))
            chance = "on \(shown)% of \(rule.per == .connection ? "connections (decided once per connection)" : "\(unit)s")"
        }
        parts.append("'\(rule.name)' (\(rule.kind)): \(chance)")
        if let connections = rule.match.connections {
            var which: [String] = []
            if connections.skip > 0 { which.append("after the first \(connections.skip)") }
            if let first = connections.first { which.append("among the first \(first)") }
            if let every = connections.every { which.append("every \(Self.ordinal(Int(every))) \(whole)") }
            parts.append("\(whole)s \(which.joined(separator: ", "))")
        }
        if let client = rule.match.client {
            parts.append("from clients in \(client)")
        }
        if transport == .udp, let ordinals = rule.match.message?.ordinals {
            parts.append("datagrams \(Self.datagramOrdinals(ordinals))")
        } else if let message = rule.match.message {
            var what: [String] = []
            if !message.methods.isEmpty { what.append("method \(message.methods.joined(separator: "/"))") }
            if let path = message.path { what.append("path \(path)") }
            if let header = message.header { what.append("header \(header.name)\(header.value.map { ": \($0)" } ?? "")") }
            if !message.commands.isEmpty { what.append("command \(message.commands.joined(separator: "/"))") }
            if let ordinals = message.ordinals { what.append("message ordinal \(Self.ordinals(ordinals)) on the connection") }
            if let attempts = message.attempts { what.append(Self.attempts(attempts)) }
            parts.append("messages with \(what.joined(separator: ", "))")
        }
        if !(rule.fault is RefuseFault) {
            switch rule.match.direction {
            case .upstream: parts.append("on what the client sends")
            case .downstream: parts.append("on what the server sends back")
            case .both: parts.append("in both directions")
            }
        }
        let does = transport == .udp ? (rule.fault as? any DatagramCarried)?.datagramExplanation : nil
        var text = parts.joined(separator: ", ") + ", it " + (does ?? rule.fault.explanation)
        if let window = rule.window {
            let origin = window.from == .proxy ? "the proxy started" : "the connection opened"
            if let length = window.length {
                text += ", only from \(DurationText.format(window.after)) to \(DurationText.format(window.after + length)) after \(origin)"
            } else if window.after > .zero {
                text += ", only from \(DurationText.format(window.after)) after \(origin) on"
            }
        }
        return text + "."
    }

    static let hints: [String: String] = [
        "delay": "Delay: time out on the whole call against the service's latency objective, and do not retry a call whose reply may still be on its way unless it is idempotent.",
        "bandwidth": "Bandwidth: budget deadlines for the size of what is sent, and stream rather than buffer large bodies.",
        "slice": "Slice: reassemble messages across reads; never assume one read is one message.",
        "blackhole": "Blackhole: silence is not an error; only a deadline or a keepalive notices it. Close the silent connection and retry on a new one.",
        "sever": "Sever: after a reset or an early end of stream the server may or may not have done the work; retry only idempotent calls or calls carrying an idempotency key.",
        "refuse": "Refuse: retry connecting with exponential backoff and jitter, cap the attempts, and open a circuit breaker when refusals persist.",
        "hang": "Hang: a connection that stops moving needs a deadline; retries go on a new connection.",
        "drop": "Drop: a lost request and a lost reply look the same to the client: only a deadline notices, and the server may have done the work. Retry with the same idempotency key, and make the service deduplicate on it.",
        "duplicate": "Duplicate: the service must give one effect per logical request: deduplicate on an idempotency key, or make the operation idempotent (SET, not INCR).",
        "reorder": "Reorder: do not assume pipelined requests are executed in the order sent; requests that depend on each other wait for the earlier reply.",
        "respond": "Respond: honour Retry-After, retry 503 and 429 with backoff and jitter, do not retry other 4xx, and bound the attempts.",
    ]

    /// Splits a description at "A correct client/service ...": what it simulates, and the
    /// advice (nil when the description gives none).
    static func split(_ description: String) -> (String, String?) {
        for marker in ["A correct client", "A correct service", "A correct system"] {
            if let range = description.range(of: marker) {
                let before = String(description[..<range.lowerBound]).trimmingSpaces
                let after = String(description[range.lowerBound...]).trimmingSpaces
                return (before, after)
            }
        }
        return (description, nil)
    }

    static func wrap(_ text: String, width: Int, first: String = "", rest: String = "") -> [String] {
        var lines: [String] = []
        var current = first
        var prefix = first
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if current.count > prefix.count, current.count + 1 + word.count > width {
                lines.append(current)
                current = rest
                prefix = rest
            }
            current += (current.count > prefix.count ? " " : "") + word
        }
        if current.count > prefix.count || lines.isEmpty { lines.append(current) }
        return lines
    }

    /// `first: 2` as "the first 2 attempts of each logical request (...)".
    static func attempts(_ attempts: ConnectionOrdinals) -> String {
        let grouping = "of each logical request (same Idempotency-Key, else same fingerprint)"
        switch (attempts.first, attempts.every, attempts.skip) {
        case (1?, nil, 0): return "the first attempt \(grouping)"
        case (let first?, nil, 0): return "the first \(first) attempts \(grouping)"
        case (nil, nil, let skip) where skip > 0: return "attempts after the first \(skip) \(grouping)"
        default: return "attempts numbered \(Self.ordinals(attempts)) (from 0) \(grouping)"
        }
    }

    /// `first: 2` as "0 to 1", `skip: 2` as "2 on"; ordinals count from 0.
    static func ordinals(_ ordinals: ConnectionOrdinals) -> String {
        var which: [String] = []
        if let first = ordinals.first {
            which.append(first == ordinals.skip + 1 ? "\(ordinals.skip)" : "\(ordinals.skip) to \(first - 1)")
        } else {
            which.append("\(ordinals.skip) on")
        }
        if let every = ordinals.every { which.append("every \(Self.ordinal(Int(every))) one") }
        return which.joined(separator: ", ")
    }

    static func ordinal(_ n: Int) -> String {
        let suffix: String
        switch (n % 10, n % 100) {
        case (1, let h) where h != 11: suffix = "st"
        case (2, let h) where h != 12: suffix = "nd"
        case (3, let h) where h != 13: suffix = "rd"
        default: suffix = "th"
        }
        return "\(n)\(suffix)"
    }
}

private func format2(_ value: Double) -> String {
    let scaled = (value * 100).rounded() / 100
    return String(scaled)
}

extension ProfileExplainer {
    /// The description's first sentence, for one-line listings.
    package static func firstSentence(of description: String) -> String {
        let flat = description.split(whereSeparator: { $0 == "\n" || $0 == " " }).joined(separator: " ")
        if let end = flat.range(of: ". ") {
            return String(flat[..<end.lowerBound]) + "."
        }
        return flat
    }
}
