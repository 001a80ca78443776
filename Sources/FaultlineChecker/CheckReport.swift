/// What a check found, in one model every report format is written from.
///
/// `check retries` (the client, from the log) and `check idempotency` (the service, by
/// replay) fill the same shape, so text, JSON, JUnit and HTML are written once; only
/// the summary's counts differ by check (`counts`), and each check's have only its own
/// fields. The JSON report is this model encoded as is (`snake_case` keys): add fields,
/// never rename them, and bump `schemaVersion` on a rename (docs/checker.md documents it).
///
/// Times are nanoseconds on the log's monotonic clock, relative to `origin` (the first
/// `mono` stamp of the first log), so a report reads the same whatever the host's uptime.
package struct CheckReport: Codable, Sendable, Equatable {
    package static let currentSchemaVersion = 1

    package var schemaVersion = CheckReport.currentSchemaVersion
    /// `retries` or `idempotency`.
    package var check: String
    /// The inputs, as given on the command line.
    package var inputs: [String]
    /// Monotonic nanoseconds every `*_ns` time in the report counts from.
    package var origin: UInt64
    /// The seed(s) the logs were made with (from `proxy_start`).
    package var seeds: [UInt64]
    /// What the check counted (JSON `summary`): the logs' requests and retries for
    /// `check retries`, what replay sent and concluded for `check idempotency`.
    package var counts: Counts
    /// Every rule the check knows, with what it concluded, in rule-id order.
    package var rules: [RuleResult]
    /// Every violation, most severe first, then by rule id and time.
    package var findings: [Finding]
    /// What the check inferred about each client (retries) — the backoff it really uses.
    package var clients: [ClientBehaviour]
    /// Settings that changed the verdict (a relaxed safety rule, a raised threshold), in
    /// words, so a reader sees the report was not made with the defaults.
    package var notes: [String]
    /// What the HTML timeline draws: logical requests and the faults around them.
    package var timeline: Timeline
    /// `check idempotency` only: each replayed operation's classification (idempotent,
    /// deduplicated by key, at-least-once, inconclusive), one row per operation in the
    /// order the log first shows it. Nil (and absent from JSON) for `check retries`.
    package var operations: [OperationVerdict]? = nil

    package init(
        check: String,
        inputs: [String],
        origin: UInt64,
        seeds: [UInt64] = [],
        counts: Counts? = nil,
        rules: [RuleResult] = [],
        findings: [Finding] = [],
        clients: [ClientBehaviour] = [],
        notes: [String] = [],
        timeline: Timeline = Timeline()
    ) {
        self.check = check
        self.inputs = inputs
        self.origin = origin
        self.seeds = seeds
        self.counts = counts ?? Counts.empty(for: check)
        self.rules = rules
        self.findings = findings
        self.clients = clients
        self.notes = notes
        self.timeline = timeline
    }

    /// Exit status the report calls for: 1 when any finding is a violation, else 0.
    package var hasViolations: Bool {
        self.findings.contains { $0.severity >= .low }
    }

    /// `check retries`' counts: `counts` of a retries report (empty counts on any
    /// other). Setting it makes the report's counts the retry check's.
    package var summary: Summary {
        get {
            guard case .retries(let summary) = self.counts else { return Summary() }
            return summary
        }
        set { self.counts = .retries(newValue) }
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case counts = "summary"
        case check, inputs, origin, seeds, rules, findings, clients, notes, timeline, operations
    }

    /// Reads what `JSONReportWriter` wrote: `summary` in the shape `check` names.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.schemaVersion = try container.decode(Int.self, forKey: .schemaVersion)
        self.check = try container.decode(String.self, forKey: .check)
        self.inputs = try container.decode([String].self, forKey: .inputs)
        self.origin = try container.decode(UInt64.self, forKey: .origin)
        self.seeds = try container.decode([UInt64].self, forKey: .seeds)
        self.counts = try Counts.decode(from: container, forKey: .counts, check: self.check)
        self.rules = try container.decode([RuleResult].self, forKey: .rules)
        self.findings = try container.decode([Finding].self, forKey: .findings)
        self.clients = try container.decode([ClientBehaviour].self, forKey: .clients)
        self.notes = try container.decode([String].self, forKey: .notes)
        self.timeline = try container.decode(Timeline.self, forKey: .timeline)
        self.operations = try container.decodeIfPresent([OperationVerdict].self, forKey: .operations)
    }
}

/// How bad a finding is, from the rule book (CRIT > HIGH > MED > LOW > INFO). INFO
/// findings are reported but never fail a build.
package enum Severity: String, Codable, Sendable, Comparable, CaseIterable {
    case info = "INFO"
    case low = "LOW"
    case medium = "MED"
    case high = "HIGH"
    case critical = "CRIT"

    private var rank: Int {
        switch self {
        case .info: 0
        case .low: 1
        case .medium: 2
        case .high: 3
        case .critical: 4
        }
    }

    package static func < (lhs: Severity, rhs: Severity) -> Bool {
        lhs.rank < rhs.rank
    }
}

extension CheckReport {
    /// What a check counted, one case per check: a report's JSON `summary` is the case's
    /// value, so a retries report has no replay counts and an idempotency report no
    /// retry counts.
    package enum Counts: Encodable, Sendable, Equatable {
        /// `check retries`: the logs' events, requests, retries, clients and faults.
        case retries(Summary)
        /// `check idempotency`: the operations replayed, the requests sent, the replies.
        case idempotency(IdempotencySummary)

        /// `check` of a `check idempotency` report.
        package static let idempotencyCheck = "idempotency"

        /// Zero counts in the shape `check` has (`idempotency`, else `retries`).
        package static func empty(for check: String) -> Counts {
            check == Self.idempotencyCheck ? .idempotency(IdempotencySummary()) : .retries(Summary())
        }

        package var retries: Summary? {
            if case .retries(let summary) = self { summary } else { nil }
        }

        package var idempotency: IdempotencySummary? {
            if case .idempotency(let summary) = self { summary } else { nil }
        }

        /// Findings by severity, whichever check counted them.
        package var findingsBySeverity: [String: Int] {
            switch self {
            case .retries(let summary): summary.findingsBySeverity
            case .idempotency(let summary): summary.findingsBySeverity
            }
        }

        /// The case's value alone, as the JSON `summary` object.
        package func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .retries(let summary): try container.encode(summary)
            case .idempotency(let summary): try container.encode(summary)
            }
        }

        /// The JSON `summary` object read in the shape `check` names.
        static func decode<Key: CodingKey>(from container: KeyedDecodingContainer<Key>, forKey key: Key, check: String) throws -> Counts {
            check == Self.idempotencyCheck
                ? .idempotency(try container.decode(IdempotencySummary.self, forKey: key))
                : .retries(try container.decode(Summary.self, forKey: key))
        }
    }

    /// `check retries`' counts over the whole input.
    package struct Summary: Codable, Sendable, Equatable {
        package var events = 0
        package var connections = 0
        /// Request messages seen (every attempt).
        package var attempts = 0
        /// Logical requests (attempts grouped).
        package var logicalRequests = 0
        /// Logical requests with more than one attempt.
        package var retried = 0
        package var clients = 0
        package var faults = 0
        /// Findings by severity (`CRIT`, `HIGH`, ...), violations and INFO alike.
        package var findingsBySeverity: [String: Int] = [:]

        package init() {}

        enum CodingKeys: String, CodingKey {
            case events, connections, attempts, clients, faults, retried
            case logicalRequests = "logical_requests"
            case findingsBySeverity = "findings_by_severity"
        }
    }

    /// `check idempotency`'s counts: what it read, what replay sent to the target and
    /// got back, and how the operations came out.
    ///
    /// Every request goes on a new connection. Each request sent (replayed or a probe)
    /// ends one way: its reply received, its reply dropped by SR-05's proxy, or
    /// unanswered, so `requestsSent + probeRequests == repliesReceived + repliesDropped +
    /// unanswered`. A connection the target refused carried no request and is not
    /// counted (the notes say the run ended there). A dry run sends nothing: every count
    /// of requests and replies is 0.
    package struct IdempotencySummary: Codable, Sendable, Equatable {
        /// How many operations had each classification; the four add up to `operations`.
        package struct Classifications: Codable, Sendable, Equatable {
            package var idempotent = 0
            package var deduplicatedByKey = 0
            package var atLeastOnce = 0
            package var inconclusive = 0

            package init() {}

            package subscript(_ classification: OperationVerdict.Classification) -> Int {
                get {
                    switch classification {
                    case .idempotent: self.idempotent
                    case .deduplicatedByKey: self.deduplicatedByKey
                    case .atLeastOnce: self.atLeastOnce
                    case .inconclusive: self.inconclusive
                    }
                }
                set {
                    switch classification {
                    case .idempotent: self.idempotent = newValue
                    case .deduplicatedByKey: self.deduplicatedByKey = newValue
                    case .atLeastOnce: self.atLeastOnce = newValue
                    case .inconclusive: self.inconclusive = newValue
                    }
                }
            }

            /// The keys are the classifications' JSON spellings.
            enum CodingKeys: String, CodingKey {
                case idempotent, inconclusive
                case deduplicatedByKey = "deduplicated_by_key"
                case atLeastOnce = "at_least_once"
            }
        }

        /// Events in the log (every line read).
        package var events = 0
        /// Operations the log holds (one recorded request each).
        package var operationsRecorded = 0
        /// Operations the check took (those `--only` names, else all), each one row in
        /// the report's `operations`, replayed or not.
        package var operations = 0
        package var operationsByClassification = Classifications()
        /// Replayed requests sent to the target, probes not included (SR-05's first
        /// attempt went through replay's own proxy in front of it).
        package var requestsSent = 0
        /// Probe reads sent (`--probe`, before and after each experiment).
        package var probeRequests = 0
        /// Replies replay read, to replayed requests and probes.
        package var repliesReceived = 0
        /// Replies SR-05's proxy dropped on purpose: the target answered, replay's client
        /// never heard (replay compares them with the retry's answer).
        package var repliesDropped = 0
        /// Requests that got no reply replay could read: none within `--timeout`, the
        /// connection closed first, or bytes that do not parse. The run ends at the first.
        package var unanswered = 0
        /// Findings by severity (`CRIT`, `HIGH`, ...), violations and INFO alike.
        package var findingsBySeverity: [String: Int] = [:]

        package init() {}

        enum CodingKeys: String, CodingKey {
            case events, operations, unanswered
            case operationsRecorded = "operations_recorded"
            case operationsByClassification = "operations_by_classification"
            case requestsSent = "requests_sent"
            case probeRequests = "probe_requests"
            case repliesReceived = "replies_received"
            case repliesDropped = "replies_dropped"
            case findingsBySeverity = "findings_by_severity"
        }
    }

    /// One rule's verdict over the whole input (one JUnit test case per rule and operation).
    package struct RuleResult: Codable, Sendable, Equatable {
        /// The id of the one result of a check that did not run (`faultline run`), whose
        /// evidence says why: the report's one-line verdict is then that, not "no violations".
        package static let notRun = "not-run"

        package enum Status: String, Codable, Sendable {
            /// Enough evidence, no violation.
            case passed
            /// At least one finding that is a violation (LOW or above).
            case failed
            /// Findings, every one INFO: reported, never failing a check (and never
            /// "passed": the rule found something). Added after schema version 1's first
            /// statuses; a reader that does not know it can take it as passed with notes.
            case noted
            /// Evidence below the rule's minimum sample: no verdict either way.
            case notEnoughEvidence = "not_enough_evidence"
            /// Nothing in the input the rule applies to (no retries, no Retry-After, ...).
            case notApplicable = "not_applicable"
            /// Turned off by `--rules`.
            case off
        }

        /// `CR-01` ... `CR-22` (client), `SR-01` ... (service).
        package var id: String
        /// `NONIDEMPOTENT_RETRY_NO_KEY` ...
        package var name: String
        package var severity: Severity
        package var status: Status
        /// The operation this verdict is about (`POST /charges`, `INCR`), or nil for all.
        package var operation: String?
        /// How much the verdict rests on, in words: "41 retries in 20 logical requests",
        /// "12 gaps before attempt 1 (the most before any one attempt; needs 20)".
        package var evidence: String
        /// How many samples the verdict used, and the minimum the rule needs.
        package var samples: Int
        package var minimumSamples: Int

        package init(
            id: String, name: String, severity: Severity, status: Status, operation: String? = nil,
            evidence: String, samples: Int = 0, minimumSamples: Int = 1
        ) {
            self.id = id
            self.name = name
            self.severity = severity
            self.status = status
            self.operation = operation
            self.evidence = evidence
            self.samples = samples
            self.minimumSamples = minimumSamples
        }

        enum CodingKeys: String, CodingKey {
            case id, name, severity, status, operation, evidence, samples
            case minimumSamples = "minimum_samples"
        }
    }

    /// `check idempotency`: what replay concluded about one operation.
    package struct OperationVerdict: Codable, Sendable, Equatable {
        package enum Classification: String, Codable, Sendable, CaseIterable {
            /// A repeat is harmless: no extra effect, with or without a key.
            case idempotent
            /// The request carries a key and duplicates with that key had one effect.
            case deduplicatedByKey = "deduplicated_by_key"
            /// A repeat applied twice: a violation.
            case atLeastOnce = "at_least_once"
            /// No verdict; `reason` says why (no probe and no difference in the replies,
            /// the target stopped answering, ...).
            case inconclusive
        }

        /// `POST /accounts/{id}/deposits`, `INCR`, `SET NX`.
        package var operation: String
        package var classification: Classification
        /// The evidence for the classification, in one sentence.
        package var reason: String
        /// Whether a `--probe` read the state (a verdict without one rests on replies).
        package var probed: Bool
        /// Whether the replayed request carried an idempotency key.
        package var keyed: Bool
        /// Ids of the service rules that failed for this operation.
        package var failedRules: [String]
        /// Where the replayed request came from: `FILE:LINE` of its `message` event.
        package var source: String?

        package init(
            operation: String, classification: Classification, reason: String, probed: Bool, keyed: Bool,
            failedRules: [String] = [], source: String? = nil
        ) {
            self.operation = operation
            self.classification = classification
            self.reason = reason
            self.probed = probed
            self.keyed = keyed
            self.failedRules = failedRules
            self.source = source
        }

        enum CodingKeys: String, CodingKey {
            case operation, classification, reason, probed, keyed, source
            case failedRules = "failed_rules"
        }
    }

    /// One violation (or INFO observation), with the evidence that shows it.
    package struct Finding: Codable, Sendable, Equatable {
        package var rule: String
        package var name: String
        package var severity: Severity
        /// The operation (`POST /charges`, `INCR`, or the fingerprint's first digits).
        package var operation: String
        /// The client host, as the log names it.
        package var client: String?
        /// What happened, in one sentence with the numbers.
        package var message: String
        /// What a correct client does instead.
        package var fix: String
        /// The logical request(s) it is about (ids as in `timeline.requests`).
        package var requests: [String]
        /// The attempts (and the faults that caused them) that show it.
        package var evidence: [AttemptEvidence]
        /// `check idempotency`: the requests replay sent and the replies it got, in order
        /// (bytes as text, control characters escaped, long bodies cut). Nil for `retries`.
        package var exchanges: [ExchangeEvidence]? = nil

        package init(
            rule: String, name: String, severity: Severity, operation: String, client: String? = nil,
            message: String, fix: String, requests: [String] = [], evidence: [AttemptEvidence] = []
        ) {
            self.rule = rule
            self.name = name
            self.severity = severity
            self.operation = operation
            self.client = client
            self.message = message
            self.fix = fix
            self.requests = requests
            self.evidence = evidence
        }
    }

    /// `check idempotency`: one request replay sent and what came back, as evidence.
    package struct ExchangeEvidence: Codable, Sendable, Equatable {
        /// The experiment step: `SR-01 #2`, `SR-04 conn 3`, `probe after SR-01`.
        package var step: String
        /// The request as sent (text; bytes that are not printable escaped as `\xNN`).
        package var request: String
        /// The reply as received, or what happened instead (`no reply within 5s`).
        package var reply: String
        /// The HTTP status of the reply, when there was one.
        package var status: Int?

        package init(step: String, request: String, reply: String, status: Int? = nil) {
            self.step = step
            self.request = request
            self.reply = reply
            self.status = status
        }
    }

    /// One attempt as evidence: where it is in the log and how it ended.
    package struct AttemptEvidence: Codable, Sendable, Equatable {
        package var request: String
        /// The attempt within its logical request, from 0.
        package var attempt: Int
        package var proxy: String
        package var conn: UInt64
        package var unit: UInt64
        /// Line of the `message` event in its log, when known (1-based).
        package var line: Int?
        package var startNs: Int64
        /// When the client saw the attempt end (reply delivered, cut, or its own close).
        package var endNs: Int64?
        package var outcome: Outcome
        package var status: Int?
        /// The fault that caused this outcome, if one did: `rule (kind action)`.
        package var fault: String?
        /// The gap from the previous attempt's end to this one's start.
        package var gapNs: Int64?
        package var idempotencyKey: String?

        package init(
            request: String, attempt: Int, proxy: String, conn: UInt64, unit: UInt64, line: Int? = nil,
            startNs: Int64, endNs: Int64? = nil, outcome: Outcome, status: Int? = nil, fault: String? = nil,
            gapNs: Int64? = nil, idempotencyKey: String? = nil
        ) {
            self.request = request
            self.attempt = attempt
            self.proxy = proxy
            self.conn = conn
            self.unit = unit
            self.line = line
            self.startNs = startNs
            self.endNs = endNs
            self.outcome = outcome
            self.status = status
            self.fault = fault
            self.gapNs = gapNs
            self.idempotencyKey = idempotencyKey
        }

        enum CodingKeys: String, CodingKey {
            case request, attempt, proxy, conn, unit, line, outcome, status, fault
            case startNs = "start_ns"
            case endNs = "end_ns"
            case gapNs = "gap_ns"
            case idempotencyKey = "idempotency_key"
        }
    }

    /// How an attempt ended, as the proxy saw it (the rule book's outcome classes).
    package enum Outcome: String, Codable, Sendable, CaseIterable {
        /// A reply reached the client; `status` says which (HTTP), none for other protocols.
        case answered
        /// faultline answered in the server's place (`respond`).
        case answeredByProxy = "answered_by_proxy"
        /// The request never reached the server (dropped, cut before it): retrying is safe.
        case notApplied = "not_applied"
        /// The server got the request; the reply was lost, cut or late: unknown effect.
        case ambiguous
        /// The connection was refused (`refuse`) before the request. In the schema, but
        /// `check retries` never gives it: a refused connection carries no request, so it
        /// is no attempt (its refusal is a fault on the timeline, tied to no request).
        case refused
        /// The connection was reset around the request.
        case reset
        /// The client closed the connection while the reply was still owed.
        case clientGaveUp = "client_gave_up"
        /// Still open when the log ended.
        case unknown
    }

    /// What the check inferred about one client's retry behaviour.
    package struct ClientBehaviour: Codable, Sendable, Equatable {
        package var client: String
        package var logicalRequests: Int
        package var retried: Int
        /// Attempts per logical request: the most seen, and the mean over retried ones.
        package var maxAttempts: Int
        package var meanAttempts: Double
        /// `immediate`, `constant`, `linear`, `exponential`, or `unknown` (too few gaps).
        package var backoff: String
        /// First delay (nanoseconds), growth factor per attempt, and cap where seen.
        package var initialDelayNs: Int64?
        package var growth: Double?
        package var capNs: Int64?
        /// `none`, `full`, `equal`, `proportional` (±p), `decorrelated`, or `unknown`.
        package var jitter: String
        /// The coefficient of variation the jitter verdict rests on.
        package var jitterCV: Double?
        /// The longest span from a logical request's first attempt to its last end:
        /// the deadline the client seems to use.
        package var deadlineNs: Int64?
        /// The client's per-attempt timeout, where it gave up on a reply (median).
        package var timeoutNs: Int64?
        /// How many gaps the inference used.
        package var samples: Int
        /// Anything the inference could not decide, in words.
        package var note: String?

        package init(client: String) {
            self.client = client
            self.logicalRequests = 0
            self.retried = 0
            self.maxAttempts = 0
            self.meanAttempts = 0
            self.backoff = "unknown"
            self.jitter = "unknown"
            self.samples = 0
        }

        enum CodingKeys: String, CodingKey {
            case client, retried, backoff, growth, jitter, samples, note
            case logicalRequests = "logical_requests"
            case maxAttempts = "max_attempts"
            case meanAttempts = "mean_attempts"
            case initialDelayNs = "initial_delay_ns"
            case capNs = "cap_ns"
            case jitterCV = "jitter_cv"
            case deadlineNs = "deadline_ns"
            case timeoutNs = "timeout_ns"
        }
    }

    /// Rows and shading for the HTML timeline.
    package struct Timeline: Codable, Sendable, Equatable {
        package struct Request: Codable, Sendable, Equatable {
            /// `R1`, `R2`, ... in order of first attempt.
            package var id: String
            package var operation: String
            package var client: String?
            package var attempts: [Attempt]
            /// Rule ids of findings about this request (the row is marked).
            package var findings: [String]

            package init(id: String, operation: String, client: String? = nil, attempts: [Attempt], findings: [String] = []) {
                self.id = id
                self.operation = operation
                self.client = client
                self.attempts = attempts
                self.findings = findings
            }
        }

        package struct Attempt: Codable, Sendable, Equatable {
            package var startNs: Int64
            package var endNs: Int64?
            package var outcome: Outcome
            package var status: Int?
            package var fault: String?

            package init(startNs: Int64, endNs: Int64? = nil, outcome: Outcome, status: Int? = nil, fault: String? = nil) {
                self.startNs = startNs
                self.endNs = endNs
                self.outcome = outcome
                self.status = status
                self.fault = fault
            }

            enum CodingKeys: String, CodingKey {
                case outcome, status, fault
                case startNs = "start_ns"
                case endNs = "end_ns"
            }
        }

        /// An injected fault: a point (`endNs` nil) or a span (a delay, a hang).
        package struct Fault: Codable, Sendable, Equatable {
            package var startNs: Int64
            package var endNs: Int64?
            package var rule: String
            package var kind: String
            /// The logical request it hit, if it hit a request.
            package var request: String?

            package init(startNs: Int64, endNs: Int64? = nil, rule: String, kind: String, request: String? = nil) {
                self.startNs = startNs
                self.endNs = endNs
                self.rule = rule
                self.kind = kind
                self.request = request
            }

            enum CodingKeys: String, CodingKey {
                case rule, kind, request
                case startNs = "start_ns"
                case endNs = "end_ns"
            }
        }

        package var requests: [Request]
        package var faults: [Fault]
        /// End of the last event, for the axis.
        package var endNs: Int64

        package init(requests: [Request] = [], faults: [Fault] = [], endNs: Int64 = 0) {
            self.requests = requests
            self.faults = faults
            self.endNs = endNs
        }

        enum CodingKeys: String, CodingKey {
            case requests, faults
            case endNs = "end_ns"
        }
    }
}
