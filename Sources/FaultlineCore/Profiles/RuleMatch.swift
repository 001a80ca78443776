/// Where a rule applies. Every part given must hold; an empty match applies everywhere.
///
/// The TCP engine reads `direction`, `connections` and `client`. `message` is read by
/// framed connections (and UDP datagrams): a rule with a message match never applies to
/// raw chunks.
package struct RuleMatch: Sendable, Equatable {
    package var direction: DirectionMatch
    package var connections: ConnectionOrdinals?
    package var client: AddressMatch?
    package var message: MessageMatch?

    package init(
        direction: DirectionMatch = .both,
        connections: ConnectionOrdinals? = nil,
        client: AddressMatch? = nil,
        message: MessageMatch? = nil
    ) {
        self.direction = direction
        self.connections = connections
        self.client = client
        self.message = message
    }

    /// Whether a connection with this ordinal and client address is selected. A client
    /// match against an unknown address does not hold.
    package func selects(connection ordinal: UInt64, client address: String?) -> Bool {
        if let connections = self.connections, !connections.contains(ordinal) { return false }
        if let match = self.client {
            guard let address, match.contains(address) else { return false }
        }
        return true
    }
}

/// Which way bytes travel for a rule: `upstream` is client to server.
package enum DirectionMatch: String, Sendable, CaseIterable, Equatable {
    case upstream
    case downstream
    case both

    package func covers(_ direction: Event.Direction) -> Bool {
        switch self {
        case .both: true
        case .upstream: direction == .upstream
        case .downstream: direction == .downstream
        }
    }
}

/// Connection ordinals (from 0, in accept order): `first: 3` is connections 0, 1, 2;
/// `every: 5` is the 5th, 10th, ... (ordinals 4, 9, ...); `skip: 2` leaves out the first
/// two. Together they all must hold.
package struct ConnectionOrdinals: Sendable, Equatable {
    package var first: UInt64?
    package var every: UInt64?
    package var skip: UInt64

    package init(first: UInt64? = nil, every: UInt64? = nil, skip: UInt64 = 0) {
        self.first = first
        self.every = every
        self.skip = skip
    }

    package func contains(_ ordinal: UInt64) -> Bool {
        if ordinal < self.skip { return false }
        if let first = self.first, ordinal >= first { return false }
        if let every = self.every, every > 0, (ordinal + 1) % every != 0 { return false }
        return true
    }

    /// False when no ordinal at all is selected.
    package var selectsAny: Bool {
        if let first = self.first, first <= self.skip { return false }
        guard let every = self.every, let first = self.first else { return true }
        // The smallest multiple of `every` (1-based) at or past skip must be below first.
        let start = max(self.skip + 1, every)
        let firstMultiple = (start + every - 1) / every * every
        return firstMultiple - 1 < first
    }
}

/// Facts a framer reports about one message, for `MessageMatch`. Raw TCP chunks have
/// none; the framing work fills these.
package struct MessageFacts: Sendable, Equatable {
    /// The message ordinal within its connection and direction, from 0.
    package var ordinal: UInt64
    /// The attempt number of the request (a reply: of the request it answers) within its
    /// logical request, from 0: requests with the same Idempotency-Key, else the same
    /// fingerprint, are attempts of one logical request. Nil when unknown.
    package var attempt: UInt64?
    package var method: String?
    package var path: String?
    package var headers: [(name: String, value: String)]
    package var command: String?

    package init(
        ordinal: UInt64,
        method: String? = nil,
        path: String? = nil,
        headers: [(name: String, value: String)] = [],
        command: String? = nil,
        attempt: UInt64? = nil
    ) {
        self.ordinal = ordinal
        self.method = method
        self.path = path
        self.headers = headers
        self.command = command
        self.attempt = attempt
    }

    package static func == (lhs: MessageFacts, rhs: MessageFacts) -> Bool {
        lhs.ordinal == rhs.ordinal && lhs.attempt == rhs.attempt && lhs.method == rhs.method
            && lhs.path == rhs.path && lhs.command == rhs.command
            && lhs.headers.map(\.name) == rhs.headers.map(\.name)
            && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}

/// Selects framed messages: HTTP method, path glob, a header, a RESP command, or the
/// message's ordinal. Parsed and checked now; evaluated by framed connections.
package struct MessageMatch: Sendable, Equatable {
    package var methods: [String]
    package var path: PathGlob?
    package var header: HeaderMatch?
    package var commands: [String]
    /// Message ordinals per connection and direction.
    package var ordinals: ConnectionOrdinals?
    /// Attempt numbers within a logical request (`MessageFacts.attempt`): `first: 2` is
    /// "the first two attempts of every request".
    package var attempts: ConnectionOrdinals?

    package init(
        methods: [String] = [],
        path: PathGlob? = nil,
        header: HeaderMatch? = nil,
        commands: [String] = [],
        ordinals: ConnectionOrdinals? = nil,
        attempts: ConnectionOrdinals? = nil
    ) {
        self.methods = methods
        self.path = path
        self.header = header
        self.commands = commands
        self.ordinals = ordinals
        self.attempts = attempts
    }

    package struct HeaderMatch: Sendable, Equatable {
        package var name: String
        /// Nil: the header only has to be present.
        package var value: String?

        package init(name: String, value: String?) {
            self.name = name
            self.value = value
        }
    }

    package func matches(_ facts: MessageFacts) -> Bool {
        if !self.methods.isEmpty {
            guard let method = facts.method, self.methods.contains(where: { $0.uppercased() == method.uppercased() }) else { return false }
        }
        if let path = self.path {
            guard let actual = facts.path, path.matches(actual) else { return false }
        }
        if let header = self.header {
            let found = facts.headers.first { $0.name.lowercased() == header.name.lowercased() }
            guard let found else { return false }
            if let value = header.value, found.value != value { return false }
        }
        if !self.commands.isEmpty {
            guard let command = facts.command, self.commands.contains(where: { $0.uppercased() == command.uppercased() }) else { return false }
        }
        if let ordinals = self.ordinals, !ordinals.contains(facts.ordinal) { return false }
        if let attempts = self.attempts {
            guard let attempt = facts.attempt, attempts.contains(attempt) else { return false }
        }
        return true
    }
}

/// A path pattern: `*` matches within one segment, `**` across segments, `?` one
/// character. `/orders/*` matches `/orders/42`, not `/orders/42/items`.
package struct PathGlob: Sendable, Equatable, CustomStringConvertible {
    package var pattern: String

    package init(_ pattern: String) {
        self.pattern = pattern
    }

    package var description: String { self.pattern }

    package func matches(_ path: String) -> Bool {
        // Query strings are not part of the path.
        let path = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
        return Self.match(Array(self.pattern.unicodeScalars), 0, Array(path.unicodeScalars), 0)
    }

    private static func match(_ p: [Unicode.Scalar], _ i: Int, _ s: [Unicode.Scalar], _ j: Int) -> Bool {
        if i == p.count { return j == s.count }
        if p[i] == "*" {
            let deep = i + 1 < p.count && p[i + 1] == "*"
            let next = deep ? i + 2 : i + 1
            var k = j
            while true {
                if Self.match(p, next, s, k) { return true }
                if k == s.count || (!deep && s[k] == "/") { return false }
                k += 1
            }
        }
        guard j < s.count else { return false }
        if p[i] == "?" { return s[j] != "/" && Self.match(p, i + 1, s, j + 1) }
        return p[i] == s[j] && Self.match(p, i + 1, s, j + 1)
    }
}
