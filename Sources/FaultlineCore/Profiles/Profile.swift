/// A profile: what goes wrong, never which hosts. The shareable unit of faultline.
///
/// This is the resolved form: `extends` has been followed and merged, every value is
/// checked, every rule knows where it was written. Build one with `ProfileLoader`
/// (files, library names) or `ProfileParser` (one text, no `extends`).
package struct Profile: Sendable {
    /// The only format version this build reads (`faultline: 1`).
    package static let formatVersion = 1

    package var name: String
    /// What it simulates and what a correct client or service should do under it.
    package var description: String
    /// A seed written in the profile; `--seed` overrides it.
    package var seed: UInt64?
    /// The framing the profile's message rules need (`raw`, `line`, `length`, `http`,
    /// `resp`); `--framing` overrides it.
    package var framing: Framing?
    /// The proxy it is written for (`transport: udp`; TCP without it).
    package var transport: ProfileTransport
    package var rules: [Rule]
    package var schedule: Schedule?
    /// The profiles this one builds on, nearest first, as written.
    package var extends: [String]
    /// Where it came from: a path, or `library:NAME`.
    package var source: String
    /// A digest of the texts it was built from (itself and everything it extends), so a
    /// log says exactly which profile ran.
    package var hash: String

    package init(
        name: String,
        description: String,
        seed: UInt64? = nil,
        framing: Framing? = nil,
        transport: ProfileTransport = .tcp,
        rules: [Rule],
        schedule: Schedule? = nil,
        extends: [String] = [],
        source: String = "<memory>",
        hash: String = ""
    ) {
        self.name = name
        self.description = description
        self.seed = seed
        self.framing = framing
        self.transport = transport
        self.rules = rules
        self.schedule = schedule
        self.extends = extends
        self.source = source
        self.hash = hash
    }

    /// How connections are cut into messages. Message rules need one other than `raw`.
    package enum Framing: String, Sendable, CaseIterable, Equatable {
        case raw, line, length, http, resp
    }
}

/// One rule: where it applies, how likely, what it does, and when.
package struct Rule: Sendable {
    package var name: String
    package var match: RuleMatch
    /// Chance, in [0, 1], that the rule fires for each decision (connection or unit).
    package var probability: Double
    /// What one decision covers: the whole connection, or one chunk or message.
    package var per: DecisionScope
    package var fault: any Fault
    package var window: TimeWindow?
    /// Where the rule starts in its file, for messages about it.
    package var location: ProfileLocation

    package init(
        name: String,
        match: RuleMatch = RuleMatch(),
        probability: Double = 1,
        per: DecisionScope = .connection,
        fault: any Fault,
        window: TimeWindow? = nil,
        location: ProfileLocation = ProfileLocation(file: "<memory>")
    ) {
        self.name = name
        self.match = match
        self.probability = probability
        self.per = per
        self.fault = fault
        self.window = window
        self.location = location
    }

    /// The fault's registered name (`delay`, `sever`...).
    package var kind: String {
        type(of: self.fault).kind
    }
}

/// What one chance decision covers.
///
/// A `connection` decision is taken once, when the connection opens, and holds for its
/// whole life (its parameters too, such as a sever offset). A `chunk` decision is taken
/// for every read from the socket; `message` for every framed message (or datagram).
package enum DecisionScope: String, Sendable, CaseIterable, Equatable {
    case connection
    case chunk
    case message
}

/// A span of time when a rule may act, counted from the proxy's start or from each
/// connection's open: active in `[after, after + for)`, or from `after` on when `for` is
/// absent.
package struct TimeWindow: Sendable, Equatable {
    package enum Origin: String, Sendable, CaseIterable, Equatable {
        case proxy
        case connection
    }

    package var from: Origin
    package var after: Duration
    package var length: Duration?

    package init(from: Origin = .connection, after: Duration = .zero, length: Duration? = nil) {
        self.from = from
        self.after = after
        self.length = length
    }

    /// Whether `elapsed` (since the window's origin) is inside.
    package func contains(_ elapsed: Duration) -> Bool {
        guard elapsed >= self.after else { return false }
        guard let length = self.length else { return true }
        return elapsed < self.after + length
    }
}

/// Phases that switch rule sets over time since the proxy started.
///
/// Only the rules a phase names act while it lasts. The last phase may leave out its
/// duration and then lasts for ever; otherwise, after the last phase, no rule acts
/// unless `repeat` starts the cycle again.
package struct Schedule: Sendable, Equatable {
    package struct Phase: Sendable, Equatable {
        package var name: String
        package var duration: Duration?
        package var rules: [String]

        package init(name: String, duration: Duration?, rules: [String]) {
            self.name = name
            self.duration = duration
            self.rules = rules
        }
    }

    package var phases: [Phase]
    package var repeats: Bool

    package init(phases: [Phase], repeats: Bool = false) {
        self.phases = phases
        self.repeats = repeats
    }

    /// The phase in force `elapsed` after the proxy started, or nil when the schedule is
    /// over.
    package func phase(at elapsed: Duration) -> Phase? {
        let cycle = self.phases.reduce(Duration.zero) { $0 + ($1.duration ?? .zero) }
        var offset = elapsed
        if self.repeats, cycle > .zero, self.phases.allSatisfy({ $0.duration != nil }) {
            let cycleNs = cycle.nanoseconds
            offset = .nanoseconds(elapsed.nanoseconds % cycleNs)
        }
        for phase in self.phases {
            guard let duration = phase.duration else { return phase }
            if offset < duration { return phase }
            offset -= duration
        }
        return nil
    }

    /// Whether the rule named `rule` may act `elapsed` after the proxy started.
    package func allows(_ rule: String, at elapsed: Duration) -> Bool {
        self.phase(at: elapsed)?.rules.contains(rule) ?? false
    }
}
