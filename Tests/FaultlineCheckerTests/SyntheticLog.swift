import FaultlineCore

@testable import FaultlineChecker

/// Builds event logs as the proxy would record them, for a fake client timeline: each
/// attempt on its own connection, with an outcome the proxy caused or saw.
///
/// Times are nanoseconds on the log's monotonic clock. Events are kept with a sequence
/// number and sorted by `mono` before they are fed, so logical requests may overlap.
struct SyntheticLog {
    static let ms: UInt64 = 1_000_000
    static let s: UInt64 = 1_000_000_000

    /// How one attempt ends.
    enum Outcome {
        /// The server answers after `latency` (status, optional Retry-After).
        case answered(status: Int = 200, retryAfter: String? = nil, latency: UInt64 = 5 * SyntheticLog.ms)
        /// faultline answers in the server's place (`respond`).
        case respond(status: Int = 503, retryAfter: String? = nil)
        /// The reply is dropped (`drop`, downstream); the client closes after `timeout`.
        case replyLost(timeout: UInt64 = 1 * SyntheticLog.s)
        /// The request is dropped (`drop`, upstream); the client closes after `timeout`.
        case requestLost(timeout: UInt64 = 1 * SyntheticLog.s)
        /// The connection is reset when the reply starts (`sever` at first_reply_byte).
        case reset(latency: UInt64 = 5 * SyntheticLog.ms)
        /// The request is held (`hang`); after `hold` the client (or else the proxy) closes.
        case hang(hold: UInt64, clientCloses: Bool)
        /// A hang that lasts until the proxy stops and closes the connection at the end
        /// of its grace (`closed_by: proxy`, `reason: shutdown`).
        case hangUntilShutdown(hold: UInt64)
        /// The reply is held back `delay` by a fault; the client gives up after `timeout`.
        case slowReply(delay: UInt64, timeout: UInt64)
        /// The reply is held back `delay` by a fault, and then reaches the client.
        case delayedReply(delay: UInt64)
        /// The proxy could not reach the upstream: it closes the client after `after`.
        case upstreamUnreachable(after: UInt64)
    }

    struct Request {
        var method = "POST"
        var path = "/charges"
        var key: String?
        var fingerprint = "fp-1"
        var client = "10.0.0.1"
        var command: String?
    }

    var framing = "http"
    var seed: UInt64 = 1
    private(set) var events: [(mono: UInt64, sequence: Int, event: Event)] = []
    private var sequence = 0
    private var nextConn: UInt64 = 0
    private var nextPort = 40_000

    /// A log that starts with `proxy_start` (`announce`), numbering connections from
    /// `firstConn` (a log built in pieces keeps them apart).
    init(framing: String = "http", seed: UInt64 = 1, start: UInt64 = 1_000 * SyntheticLog.s, announce: Bool = true, firstConn: UInt64 = 0) {
        self.framing = framing
        self.seed = seed
        self.nextConn = firstConn
        guard announce else { return }
        var event = Event(.proxyStart)
        event.proxy = "proxy"
        event.mono = start
        event.framing = framing
        event.seed = seed
        self.append(event)
    }

    private mutating func append(_ event: Event) {
        self.events.append((event.mono ?? 0, self.sequence, event))
        self.sequence += 1
    }

    /// Records one attempt starting at `start`; returns when the client saw it end.
    @discardableResult
    mutating func attempt(_ request: Request, at start: UInt64, _ outcome: Outcome) -> UInt64 {
        let conn = self.nextConn
        self.nextConn += 1
        self.nextPort += 1
        var open = Event(.connectionOpen)
        open.proxy = "proxy"
        open.conn = conn
        open.client = "\(request.client):\(self.nextPort)"
        open.upstream = "127.0.0.1:8080"
        open.mono = start
        self.append(open)

        var message = Event(.message)
        message.proxy = "proxy"
        message.conn = conn
        message.direction = .upstream
        message.unit = 0
        message.firstMono = start
        message.mono = start + 100_000
        message.bytes = 120
        if self.framing == "http" {
            message.method = request.method
            message.path = request.path
        } else if self.framing == "resp" {
            message.command = request.command
        }
        message.idempotencyKey = request.key
        message.fingerprint = request.fingerprint
        self.append(message)
        let sent = start + 100_000

        func fault(_ direction: Event.Direction, kind: String, action: String, at mono: UInt64, params: [String: String] = [:]) -> Event {
            var event = Event(.fault)
            event.proxy = "proxy"
            event.conn = conn
            event.direction = direction
            event.unit = 0
            event.rule = "rule-\(kind)"
            event.kind = kind
            event.action = action
            event.params = params.merging(["attempt": "0"]) { a, _ in a }
            event.mono = mono
            return event
        }
        func reply(at mono: UInt64, status: Int?, retryAfter: String?) -> Event {
            var event = Event(.message)
            event.proxy = "proxy"
            event.conn = conn
            event.direction = .downstream
            event.unit = 0
            event.mono = mono
            event.bytes = 60
            event.status = self.framing == "http" ? status : nil
            event.retryAfter = retryAfter
            event.requestUnit = 0
            event.requestMono = start
            return event
        }
        func close(at mono: UInt64, by side: String, unanswered: Bool, reason: String = "closed") -> Event {
            var event = Event(.connectionClose)
            event.proxy = "proxy"
            event.conn = conn
            event.mono = mono + 200_000
            event.firstCloseMono = mono
            event.closedBy = side
            event.reason = reason
            event.unansweredUnit = unanswered ? 0 : nil
            return event
        }

        let end: UInt64
        switch outcome {
        case .answered(let status, let retryAfter, let latency):
            end = sent + latency
            self.append(reply(at: end, status: status, retryAfter: retryAfter))
            self.append(close(at: end + 100_000, by: "client", unanswered: false))
        case .respond(let status, let retryAfter):
            end = sent + 50_000
            var params = ["status": "\(status)"]
            if let retryAfter { params["header.Retry-After"] = retryAfter }
            self.append(fault(.upstream, kind: "respond", action: "respond", at: end, params: params))
            self.append(close(at: end + 100_000, by: "client", unanswered: false))
        case .replyLost(let timeout):
            self.append(reply(at: sent + 5 * Self.ms, status: 200, retryAfter: nil))
            self.append(fault(.downstream, kind: "drop", action: "drop", at: sent + 5 * Self.ms))
            end = start + timeout
            self.append(close(at: end, by: "client", unanswered: true))
        case .requestLost(let timeout):
            self.append(fault(.upstream, kind: "drop", action: "drop", at: sent))
            end = start + timeout
            self.append(close(at: end, by: "client", unanswered: false))
        case .reset(let latency):
            end = sent + latency
            self.append(fault(.downstream, kind: "sever", action: "reset", at: end, params: ["at": "first_reply_byte", "request_unit": "0"]))
            self.append(close(at: end, by: "proxy", unanswered: true, reason: "client_reset"))
        case .hang(let hold, let clientCloses):
            self.append(fault(.upstream, kind: "hang", action: "hang", at: sent))
            end = start + hold
            self.append(close(at: end, by: clientCloses ? "client" : "proxy", unanswered: false))
        case .hangUntilShutdown(let hold):
            self.append(fault(.upstream, kind: "hang", action: "hang", at: sent))
            end = start + hold
            self.append(close(at: end, by: "proxy", unanswered: true, reason: "shutdown"))
        case .slowReply(let delay, let timeout):
            var slow = fault(.downstream, kind: "delay", action: "delay", at: sent + 5 * Self.ms, params: ["delay": DurationText.format(.nanoseconds(Int64(delay)))])
            slow.params?["attempt"] = nil
            self.append(reply(at: sent + 5 * Self.ms, status: 200, retryAfter: nil))
            self.append(slow)
            end = start + timeout
            self.append(close(at: end, by: "client", unanswered: true))
        case .delayedReply(let delay):
            var slow = fault(.downstream, kind: "delay", action: "delay", at: sent + 5 * Self.ms, params: ["delay": DurationText.format(.nanoseconds(Int64(delay)))])
            slow.params?["attempt"] = nil
            self.append(reply(at: sent + 5 * Self.ms, status: 200, retryAfter: nil))
            self.append(slow)
            end = sent + 5 * Self.ms + delay
            self.append(close(at: end + 100_000, by: "client", unanswered: false))
        case .upstreamUnreachable(let after):
            end = start + after
            self.append(close(at: end, by: "upstream", unanswered: false, reason: "upstream_unreachable"))
        }
        return end
    }

    /// A logical request: one attempt per outcome, each after `delays[i]` from the end
    /// of the one before (the last delay repeats). Returns when its last attempt ended.
    @discardableResult
    mutating func logical(
        _ request: Request, at start: UInt64, outcomes: [Outcome], delays: (Int) -> UInt64, keys: [String?]? = nil
    ) -> UInt64 {
        var time = start
        for (index, outcome) in outcomes.enumerated() {
            var copy = request
            if let keys { copy.key = keys[min(index, keys.count - 1)] }
            if index > 0 { time += delays(index) }
            time = self.attempt(copy, at: time, outcome)
        }
        return time
    }

    /// The events in log order, with their 1-based line numbers.
    var ordered: [Event] {
        self.events.sorted { ($0.mono, $0.sequence) < ($1.mono, $1.sequence) }.map(\.event)
    }

    /// Feeds the log to a checker and returns its report.
    func check(_ options: RetryCheckOptions = RetryCheckOptions()) throws -> CheckReport {
        var checker = RetryChecker(options: options, inputs: ["test.jsonl"])
        for (index, event) in self.ordered.enumerated() {
            try checker.consume(event, file: "test.jsonl", line: index + 1)
        }
        return checker.finish()
    }
}

/// SplitMix64 for the tests' jitter: seeded, no global randomness.
struct TestRandom: RandomNumberGenerator {
    private var base: SplitMix64

    init(seed: UInt64) {
        self.base = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ 1)
    }

    mutating func next() -> UInt64 {
        self.base.next()
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double {
        Double(self.next() >> 11) / Double(1 << 53)
    }
}

extension CheckReport {
    /// Rule ids with findings (INFO included).
    var ruleIDs: Set<String> { Set(self.findings.map(\.rule)) }

    func status(_ id: String) -> RuleResult.Status? {
        self.rules.first { $0.id == id }?.status
    }

    func rule(_ id: String) -> RuleResult? {
        self.rules.first { $0.id == id }
    }

    /// Everything a failing expectation needs to show.
    var digest: String {
        let findings = self.findings.map { "\($0.rule) \($0.severity.rawValue) \($0.message)" }
        let rules = self.rules.map { "\($0.id) \($0.status.rawValue): \($0.evidence)" }
        let clients = self.clients.map { "\($0.client): \($0.backoff) growth \($0.growth ?? -1) jitter \($0.jitter) cv \($0.jitterCV ?? -1) note \($0.note ?? "")" }
        return (findings + rules + clients + self.notes).joined(separator: "\n")
    }
}
