import FaultlineChecker

/// Hand-built `CheckReport`s for the writer tests: one realistic run (about 50 logical
/// requests, two clients, findings of every severity the rule book uses here, rule results
/// of every status, notes, faults) and a large one (10,000 requests) for size and speed.
enum ReportFixtures {
    typealias Report = CheckReport
    typealias Evidence = CheckReport.AttemptEvidence
    typealias Request = CheckReport.Timeline.Request
    typealias Attempt = CheckReport.Timeline.Attempt
    typealias Fault = CheckReport.Timeline.Fault

    static let ms: Int64 = 1_000_000
    static let payments = "10.0.0.5"
    static let worker = "10.0.0.7"

    /// The CR-01 finding: `POST /charges` retried twice after ambiguous outcomes, no key.
    static let chargeEvidence: [Evidence] = [
        Evidence(request: "R7", attempt: 0, proxy: "api", conn: 7, unit: 0, line: 41, startNs: 1_204 * ms,
                 endNs: 1_804 * ms, outcome: .ambiguous, fault: "cut-reply (sever reply)"),
        Evidence(request: "R7", attempt: 1, proxy: "api", conn: 8, unit: 0, line: 47, startNs: 2_054 * ms,
                 endNs: 2_654 * ms, outcome: .ambiguous, fault: "cut-reply (sever reply)", gapNs: 250 * ms),
        Evidence(request: "R7", attempt: 2, proxy: "api", conn: 9, unit: 0, line: 55, startNs: 3_154 * ms,
                 endNs: 3_203 * ms, outcome: .answered, status: 201, gapNs: 500 * ms),
    ]

    /// The realistic report: ~50 logical requests over 14 s.
    static func realistic() -> Report {
        var requests: [Request] = []
        var faults: [Fault] = []
        var random = FixtureRandom(seed: 7)
        let operations = ["GET /charges/{id}", "GET /balance", "POST /refunds", "PUT /charges/{id}/capture"]
        var clock: Int64 = 150 * ms
        for n in 1...50 {
            let id = "R\(n)"
            let client = n % 3 == 0 ? worker : payments
            switch n {
            case 7:
                requests.append(Request(
                    id: id, operation: "POST /charges", client: payments,
                    attempts: chargeEvidence.map {
                        Attempt(startNs: $0.startNs, endNs: $0.endNs, outcome: $0.outcome, status: $0.status, fault: $0.fault)
                    },
                    findings: ["CR-01"]))
                faults.append(Fault(startNs: 1_804 * ms, rule: "cut-reply", kind: "sever", request: id))
                faults.append(Fault(startNs: 2_654 * ms, rule: "cut-reply", kind: "sever", request: id))
            case 12, 21, 30, 39:
                // The worker: immediate retries after a refused connection, the same delay every time.
                let start = clock
                var attempts: [Attempt] = []
                var t = start
                for k in 0..<3 {
                    let last = k == 2
                    attempts.append(Attempt(startNs: t, endNs: t + (last ? 38 : 2) * ms,
                                            outcome: last ? .answered : .refused, status: last ? 200 : nil,
                                            fault: last ? nil : "refuse-some (refuse)"))
                    if !last { faults.append(Fault(startNs: t, rule: "refuse-some", kind: "refuse", request: id)) }
                    t += (last ? 38 : 2) * ms + 3 * ms
                }
                requests.append(Request(id: id, operation: "GET /balance", client: worker, attempts: attempts,
                                        findings: ["CR-06", "CR-08"]))
            case 25:
                // A client that gave up while a delay held its reply, then a clean retry.
                let start = clock
                faults.append(Fault(startNs: start + 5 * ms, endNs: start + 1_505 * ms, rule: "slow-db", kind: "delay", request: id))
                requests.append(Request(id: id, operation: "PUT /charges/{id}/capture", client: payments, attempts: [
                    Attempt(startNs: start, endNs: start + 600 * ms, outcome: .clientGaveUp, fault: "slow-db (delay 1.5s)"),
                    Attempt(startNs: start + 850 * ms, endNs: start + 910 * ms, outcome: .answered, status: 200),
                ]))
            case 33:
                let start = clock
                faults.append(Fault(startNs: start, rule: "drop-request", kind: "drop", request: id))
                requests.append(Request(id: id, operation: "POST /refunds", client: payments, attempts: [
                    Attempt(startNs: start, endNs: start + 600 * ms, outcome: .notApplied, fault: "drop-request (drop)"),
                    Attempt(startNs: start + 850 * ms, endNs: start + 890 * ms, outcome: .answeredByProxy, status: 503,
                            fault: "busy (respond 503)"),
                    Attempt(startNs: start + 1_390 * ms, endNs: start + 1_450 * ms, outcome: .answered, status: 201),
                ], findings: ["CR-22"]))
                faults.append(Fault(startNs: start + 850 * ms, rule: "busy", kind: "respond", request: id))
            case 16:
                // An idempotent read retried after its reply was cut: fine, no finding.
                let start = clock
                faults.append(Fault(startNs: start + 600 * ms, rule: "cut-reply", kind: "sever", request: id))
                requests.append(Request(id: id, operation: "GET /charges/{id}", client: payments, attempts: [
                    Attempt(startNs: start, endNs: start + 600 * ms, outcome: .ambiguous, fault: "cut-reply (sever reply)"),
                    Attempt(startNs: start + 850 * ms, endNs: start + 880 * ms, outcome: .answered, status: 200),
                ]))
            case 44:
                let start = clock
                requests.append(Request(id: id, operation: "GET /charges/{id}", client: payments, attempts: [
                    Attempt(startNs: start, endNs: start + 20 * ms, outcome: .reset, fault: "reset-some (sever reset)"),
                    Attempt(startNs: start + 270 * ms, endNs: nil, outcome: .unknown),
                ]))
                faults.append(Fault(startNs: start + 20 * ms, rule: "reset-some", kind: "sever", request: id))
            default:
                let duration = Int64(20 + random.next() % 90) * ms
                requests.append(Request(id: id, operation: operations[Int(random.next() % 4)], client: client,
                                        attempts: [Attempt(startNs: clock, endNs: clock + duration, outcome: .answered, status: 200)]))
            }
            clock += Int64(70 + random.next() % 100) * ms
        }
        // A fault window that hit no request.
        faults.append(Fault(startNs: 4_300 * ms, endNs: 5_100 * ms, rule: "slow-link", kind: "bandwidth"))
        faults.sort { $0.startNs < $1.startNs }
        let endNs = (requests.compactMap { $0.attempts.last?.endNs }.max() ?? 0) + 200 * ms

        let workerRequests = requests.filter { $0.findings.contains("CR-06") }
        let workerEvidence: [Evidence] = workerRequests.flatMap { request in
            request.attempts.enumerated().map { k, a in
                Evidence(request: request.id, attempt: k, proxy: "api", conn: UInt64(100 + k), unit: 0,
                         startNs: a.startNs, endNs: a.endNs, outcome: a.outcome, status: a.status, fault: a.fault,
                         gapNs: k == 0 ? nil : 3 * ms)
            }
        }

        var findings: [Report.Finding] = [
            Report.Finding(
                rule: "CR-01", name: "NONIDEMPOTENT_RETRY_NO_KEY", severity: .high, operation: "POST /charges",
                client: payments,
                message: "POST /charges was sent 3 times after 2 ambiguous outcomes (the reply was cut) without an idempotency key: the charge may have been made twice.",
                fix: "Send one Idempotency-Key header, the same on every attempt of a logical request, or do not retry after an ambiguous outcome.",
                requests: ["R7"], evidence: chargeEvidence),
            Report.Finding(
                rule: "CR-06", name: "NO_BACKOFF", severity: .medium, operation: "GET /balance", client: worker,
                message: "8 of 8 retries started within 3ms of the previous attempt's end (4 logical requests).",
                fix: "Wait before retrying: exponential backoff from about 100ms, capped, with full jitter.",
                requests: workerRequests.map(\.id), evidence: Array(workerEvidence.prefix(6))),
            Report.Finding(
                rule: "CR-08", name: "NO_JITTER", severity: .medium, operation: "GET /balance", client: worker,
                message: "Retry delays before attempt 1 vary by CV 0.00 over 24 gaps: every client retries in lockstep.",
                fix: "Randomise each delay (full jitter: a uniform draw between 0 and the backoff).",
                requests: workerRequests.map(\.id)),
            Report.Finding(
                rule: "CR-08", name: "NO_JITTER", severity: .medium, operation: "POST /charges", client: payments,
                message: "Retry delays before attempt 1 vary by CV 0.02 over 21 gaps.",
                fix: "Randomise each delay (full jitter: a uniform draw between 0 and the backoff).",
                requests: ["R7"]),
            Report.Finding(
                rule: "CR-22", name: "DUPLICATE_SUBMISSION", severity: .info, operation: "POST /refunds", client: payments,
                message: "POST /refunds was sent again after a 503 answered by the proxy; the first attempt never reached the server.",
                fix: "Nothing to do: retrying after a request that was not applied is safe.",
                requests: ["R33"]),
        ]
        findings.sort { $0.severity > $1.severity }

        var summary = Report.Summary()
        summary.events = 1_742
        summary.connections = 61
        summary.attempts = requests.reduce(0) { $0 + $1.attempts.count }
        summary.logicalRequests = requests.count
        summary.retried = requests.count { $0.attempts.count > 1 }
        summary.clients = 2
        summary.faults = faults.count
        summary.findingsBySeverity = ["HIGH": 1, "MED": 3, "INFO": 1]

        var paymentsClient = Report.ClientBehaviour(client: payments)
        paymentsClient.logicalRequests = 34
        paymentsClient.retried = 5
        paymentsClient.maxAttempts = 3
        paymentsClient.meanAttempts = 2.5
        paymentsClient.backoff = "exponential"
        paymentsClient.initialDelayNs = 250 * ms
        paymentsClient.growth = 2.0
        paymentsClient.capNs = 2_000 * ms
        paymentsClient.jitter = "none"
        paymentsClient.jitterCV = 0.02
        paymentsClient.deadlineNs = 1_999 * ms
        paymentsClient.timeoutNs = 600 * ms
        paymentsClient.samples = 21

        var workerClient = Report.ClientBehaviour(client: worker)
        workerClient.logicalRequests = 16
        workerClient.retried = 4
        workerClient.maxAttempts = 3
        workerClient.meanAttempts = 3
        workerClient.backoff = "immediate"
        workerClient.initialDelayNs = 3 * ms
        workerClient.jitter = "none"
        workerClient.jitterCV = 0
        workerClient.deadlineNs = 49 * ms
        workerClient.samples = 8
        workerClient.note = "no reply was ever late, so the per-attempt timeout is unknown"

        let rules: [Report.RuleResult] = [
            .init(id: "CR-01", name: "NONIDEMPOTENT_RETRY_NO_KEY", severity: .high, status: .failed, operation: "POST /charges",
                  evidence: "2 retries after ambiguous outcomes in 1 logical request", samples: 2),
            .init(id: "CR-01", name: "NONIDEMPOTENT_RETRY_NO_KEY", severity: .high, status: .passed, operation: "POST /refunds",
                  evidence: "2 retries, none after an ambiguous outcome", samples: 2),
            .init(id: "CR-03", name: "KEY_CHANGED_BETWEEN_ATTEMPTS", severity: .high, status: .notApplicable,
                  evidence: "no attempt carried an idempotency key"),
            .init(id: "CR-06", name: "NO_BACKOFF", severity: .medium, status: .failed, operation: "GET /balance",
                  evidence: "8 retries in 4 logical requests", samples: 8),
            .init(id: "CR-06", name: "NO_BACKOFF", severity: .medium, status: .passed, operation: "POST /charges",
                  evidence: "2 retries in 1 logical request", samples: 2),
            .init(id: "CR-07", name: "BACKOFF_NOT_GROWING", severity: .low, status: .notEnoughEvidence,
                  evidence: "2 requests with 3 or more retries (needs 10)", samples: 2, minimumSamples: 10),
            .init(id: "CR-08", name: "NO_JITTER", severity: .medium, status: .failed, operation: "GET /balance",
                  evidence: "24 gaps before attempt 1, CV 0.00", samples: 24, minimumSamples: 20),
            .init(id: "CR-08", name: "NO_JITTER", severity: .medium, status: .failed, operation: "POST /charges",
                  evidence: "21 gaps before attempt 1, CV 0.02", samples: 21, minimumSamples: 20),
            .init(id: "CR-10", name: "TOO_MANY_ATTEMPTS", severity: .medium, status: .passed,
                  evidence: "at most 3 attempts per logical request (limit 5)", samples: 11),
            .init(id: "CR-13", name: "IGNORES_RETRY_AFTER", severity: .medium, status: .off, evidence: ""),
            .init(id: "CR-22", name: "DUPLICATE_SUBMISSION", severity: .info, status: .failed, operation: "POST /refunds",
                  evidence: "1 resend after a not-applied attempt", samples: 1),
        ]

        return Report(
            check: "retries", inputs: ["run/events.jsonl", "run/events-2.jsonl"], origin: 8_123_456_789_012_345,
            seeds: [42], counts: .retries(summary), rules: rules, findings: findings,
            clients: [paymentsClient, workerClient],
            notes: ["--rules excluded CR-13", "CR-10 limit raised to 5 attempts (--max-attempts 5)"],
            timeline: .init(requests: requests, faults: faults, endNs: endNs))
    }

    /// `count` logical requests over about ten minutes: mostly single answered attempts,
    /// every 7th retried after a fault, every 50th with a finding.
    static func large(requests count: Int = 10_000) -> Report {
        var report = Self.realistic()
        var random = FixtureRandom(seed: 99)
        var requests: [Request] = []
        var faults: [Fault] = []
        requests.reserveCapacity(count)
        var clock: Int64 = 0
        let outcomes: [Report.Outcome] = [.ambiguous, .reset, .notApplied, .clientGaveUp, .refused]
        for n in 1...count {
            let id = "R\(n)"
            let client = n % 2 == 0 ? payments : worker
            var attempts: [Attempt] = []
            var t = clock
            let tries = n % 7 == 0 ? 1 + Int(random.next() % 3) : 0
            for k in 0..<tries {
                let outcome = outcomes[Int(random.next() % UInt64(outcomes.count))]
                attempts.append(Attempt(startNs: t, endNs: t + 400 * ms, outcome: outcome, fault: "f\(k) (sever)"))
                faults.append(Fault(startNs: t + 400 * ms, rule: "cut", kind: "sever", request: id))
                t += 400 * ms + Int64(100 << k) * ms
            }
            attempts.append(Attempt(startNs: t, endNs: t + Int64(20 + random.next() % 80) * ms, outcome: .answered, status: 200))
            requests.append(Request(id: id, operation: n % 5 == 0 ? "POST /charges" : "GET /charges/{id}", client: client,
                                    attempts: attempts, findings: n % 50 == 0 ? ["CR-06"] : []))
            clock += Int64(30 + random.next() % 60) * ms
        }
        faults.append(Fault(startNs: 60_000 * ms, endNs: 90_000 * ms, rule: "slow", kind: "delay"))
        faults.sort { $0.startNs < $1.startNs }
        report.timeline = .init(requests: requests, faults: faults,
                                endNs: (requests.compactMap { $0.attempts.last?.endNs }.max() ?? 0) + 100 * ms)
        report.summary.logicalRequests = count
        report.summary.attempts = requests.reduce(0) { $0 + $1.attempts.count }
        report.summary.retried = requests.count { $0.attempts.count > 1 }
        report.summary.faults = faults.count
        return report
    }

    /// A `check idempotency` report: operations classified by replay, findings with the
    /// exchanges replay sent and got back, no timeline and no client behaviour.
    static func idempotency() -> Report {
        let deposit = "POST /accounts/{id}/deposits"
        var twice = Report.Finding(
            rule: "SR-01", name: "DUP_CHANGES_STATE", severity: .critical, operation: deposit,
            message: "The same deposit replayed 3 times with its key changed the balance 3 times (100 → 130).",
            fix: "Store each Idempotency-Key with its result and answer a repeat from the store without applying it again.")
        twice.exchanges = [
            .init(step: "probe before SR-01", request: "GET /accounts/1 HTTP/1.1\nHost: ledger\n\n",
                  reply: "HTTP/1.1 200 OK\nContent-Length: 15\n\n{\"balance\":100}", status: 200),
            .init(step: "SR-01 #1", request: "POST /accounts/1/deposits HTTP/1.1\nIdempotency-Key: k-1\n\n{\"amount\":10}",
                  reply: "HTTP/1.1 201 Created\nContent-Length: 8\n\n{\"id\":7}", status: 201),
            .init(step: "SR-01 #2", request: "POST /accounts/1/deposits HTTP/1.1\nIdempotency-Key: k-1\n\n{\"amount\":10}",
                  reply: "HTTP/1.1 201 Created\nContent-Length: 8\n\n{\"id\":8}", status: 201),
            .init(step: "SR-01 #3", request: "POST /accounts/1/deposits HTTP/1.1\nIdempotency-Key: k-1\n\n{\"amount\":10}",
                  reply: "no reply within 5s"),
        ]
        var summary = Report.IdempotencySummary()
        summary.events = 40
        summary.operationsRecorded = 4
        summary.operations = 3
        summary.operationsByClassification.atLeastOnce = 1
        summary.operationsByClassification.idempotent = 1
        summary.operationsByClassification.inconclusive = 1
        summary.requestsSent = 12
        summary.probeRequests = 9
        summary.repliesReceived = 18
        summary.repliesDropped = 2
        summary.unanswered = 1
        summary.findingsBySeverity = ["CRIT": 1]
        var report = Report(
            check: "idempotency", inputs: ["run/events.jsonl"], origin: 5, seeds: [7], counts: .idempotency(summary),
            rules: [
                .init(id: "SR-01", name: "DUP_CHANGES_STATE", severity: .critical, status: .failed, operation: deposit,
                      evidence: "3 sequential duplicates with one key, balance probed"),
                .init(id: "SR-01", name: "DUP_CHANGES_STATE", severity: .critical, status: .passed, operation: "GET /accounts/{id}",
                      evidence: "3 sequential duplicates, no change"),
                .init(id: "SR-04", name: "CONCURRENT_DUP", severity: .critical, status: .notApplicable,
                      evidence: "no keyed operation answered"),
            ],
            findings: [twice])
        report.operations = [
            .init(operation: deposit, classification: .atLeastOnce, reason: "each duplicate added 10 to the balance",
                  probed: true, keyed: true, failedRules: ["SR-01"], source: "run/events.jsonl:12"),
            .init(operation: "GET /accounts/{id}", classification: .idempotent, reason: "3 replays, the same reply and state",
                  probed: true, keyed: false),
            .init(operation: "DELETE /sessions/<x>", classification: .inconclusive, reason: "no probe and the replies differ only in Date",
                  probed: false, keyed: false),
        ]
        return report
    }

    /// A report whose traffic-derived text tries to break out of every format.
    static func hostile() -> Report {
        var report = Self.realistic()
        let evil = "POST /x<script>alert('x')</script>&\"\u{1B}[31m\u{0}\u{7}"
        report.findings[0].operation = evil
        report.findings[0].message = "cut & retried <b>twice</b> \"quoted\" 'single'\u{1}\u{FFFE}"
        report.findings[0].evidence[0].fault = "rule]]><!-- (sever)"
        report.rules[0].operation = evil
        report.timeline.requests[6].operation = evil
        report.timeline.requests[6].id = "R7\"><script>alert(1)</script>"
        report.findings[0].requests = [report.timeline.requests[6].id]
        report.clients[0].client = "<img src=x onerror=alert(1)>"
        report.notes.append("</style><script>alert(2)</script>")
        report.inputs.append("a&b<c>.jsonl")
        return report
    }
}

/// SplitMix64, so fixtures are the same on every run.
struct FixtureRandom {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
