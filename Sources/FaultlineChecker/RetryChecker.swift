import FaultlineCore

/// Judges a client's retries from faultline event logs, in one pass.
///
///     events ─▶ attempts (one per request message) ─▶ logical requests (key, else
///     fingerprint + client + window) ─▶ finished once no attempt can join ─▶ per-request
///     rules + per-client aggregates ─▶ `finish()` ─▶ statistical rules ─▶ CheckReport
///
/// Memory follows what is open at once, not the log's length: a logical request is
/// finished and forgotten once its window (in the log's own `mono` time) has passed and
/// its connections can no longer change it. What stays is per-client gap samples
/// (reservoirs), counters, the findings (capped per rule) and timeline rows for the
/// first `timelineLimit` logical requests.
package struct RetryChecker {
    static let timelineLimit = 10_000
    static let timelineFaultLimit = 20_000
    static let findingLimit = 500
    static let evidenceLimit = 12
    /// Retry indices above this share one bucket.
    static let indexLimit = 16

    let options: RetryCheckOptions
    let inputs: [String]
    var settings: RuleSettings { self.options.settings }
    let windowNs: UInt64
    let minGapNs: Double
    let keyFromHeader: Bool

    var origin: UInt64?
    var now: UInt64 = 0
    var lastFile: String?
    var scopes: [Scope] = []
    var scopeIndex: [String: Int] = [:]
    var conns: [ConnKey: ConnState] = [:]
    var open: [Int: LogicalRequest] = [:]
    /// Open logical requests by proxy and idempotency key (`proxy NUL key`).
    var byKey: [String: Int] = [:]
    var byFingerprint: [FingerprintKey: Int] = [:]
    /// The open logical request that last put an attempt with this fingerprint on this
    /// connection (`requestToJoin` looks callers' own requests up here, not by scanning).
    var byConnection: [ConnFingerprint: Int] = [:]
    /// Per request (fingerprint and client): how long the client waited after a
    /// success before sending the same request again (the last 8), and when it last
    /// did: a request the client repeats on purpose, at its own cadence (CR-01).
    var repeats: [FingerprintKey: RepeatCadence] = [:]
    /// Per request (fingerprint and client) the server answered with a status CR-14
    /// names: when it last did, and when the same request then got a success from the
    /// server (`splitAtPolls`).
    var polls: [FingerprintKey: (notReady: UInt64, ready: UInt64?)] = [:]
    /// Per request (fingerprint and client): attempts that may still be in flight
    /// (pruned as they are looked at), so several callers of one request show.
    var inFlight: [FingerprintKey: [AttemptRef]] = [:]
    var nextRequestID = 1
    var clients: [String: ClientAggregate] = [:]
    var random = SplitMix64(seed: 0xFA17_71E5)
    var lastSweep: UInt64 = 0
    var eventsSinceSweep = 0

    // Counts.
    var summary = CheckReport.Summary()
    var seeds: [UInt64] = []
    var samples: [String: Int] = [:]
    var findings: [Candidate] = []
    var findingCounts: [String: Int] = [:]
    var cr14Candidates: [Candidate] = []
    var cr14Responses = 0
    var cr14Retried = 0
    var cr19Inconclusive = 0
    /// Waits after a Retry-After the client received: the server's, left out of the
    /// backoff rules (said in their evidence when they had nothing else).
    var serverChosenWaits = 0
    /// Logical requests split after a success (`splitAtSuccesses`): the original id, and
    /// the part that holds its last attempt.
    var lastPartOf: [Int: Int] = [:]
    var notes: [String] = []
    var framings: Set<String> = []
    var endMono: UInt64 = 0

    // Timeline.
    var timelineRows: [Int: CheckReport.Timeline.Request] = [:]
    var timelineFaults: [CheckReport.Timeline.Fault] = []
    var timelineFaultsDropped = 0

    package init(options: RetryCheckOptions, inputs: [String]) {
        self.options = options
        self.inputs = inputs
        self.windowNs = UInt64(max(0, options.window.nanoseconds))
        self.minGapNs = options.settings.threshold("CR-06", "min_gap", default: 10_000_000)
        self.keyFromHeader = options.keyHeader.lowercased() != "idempotency-key"
    }

    /// Logical requests and connections held right now: what memory grows with. Tests
    /// use it to show a long log is checked in bounded memory.
    var liveState: Int {
        self.open.count + self.conns.count + self.conns.values.reduce(0) { $0 + $1.requests.count + $1.replies.count }
    }

    /// Takes the next event of the log(s), in log order.
    ///
    /// - Throws: a `UserFacingError` (exit status 2) when the log cannot be judged: its
    ///   proxy ran without framing, or `keyHeader` needs payloads the log lacks.
    package mutating func consume(_ event: Event, file: String, line: Int) throws {
        self.summary.events += 1
        if let mono = event.mono {
            if self.origin == nil { self.origin = mono }
            if file != self.lastFile {
                // A log from another run may start earlier on the clock: finish what is
                // open rather than let its window stretch across runs.
                if self.lastFile != nil, mono + self.windowNs < self.now { self.sweep(force: true) }
                self.lastFile = file
                self.now = mono
            }
            self.now = max(self.now, mono)
            self.endMono = max(self.endMono, mono)
        }
        let scope = self.scope(file: file, proxy: event.proxy ?? "proxy")
        switch event.type {
        case .proxyStart:
            self.scopes[scope].framing = event.framing ?? "raw"
            if let framing = event.framing { self.framings.insert(framing) }
            if let seed = event.seed, !self.seeds.contains(seed) { self.seeds.append(seed) }
        case .connectionOpen:
            guard let conn = event.conn else { break }
            self.conns[ConnKey(scope: scope, conn: conn)] = ConnState(client: event.client ?? "unknown", openedAt: event.mono)
            self.summary.connections += 1
        case .message:
            if event.direction == .downstream {
                self.reply(event, scope: scope)
            } else {
                try self.request(event, scope: scope, file: file, line: line)
            }
        case .fault:
            self.fault(event, scope: scope)
        case .connectionClose:
            try self.close(event, scope: scope, file: file)
        default:
            break
        }
        self.eventsSinceSweep += 1
        let interval = max(self.windowNs / 8, 100_000_000)
        if self.now >= self.lastSweep + interval || self.eventsSinceSweep >= 65_536 {
            self.sweep(force: false)
        }
    }

    mutating func scope(file: String, proxy: String) -> Int {
        let name = file + "\u{0}" + proxy
        if let index = self.scopeIndex[name] { return index }
        self.scopes.append(Scope(file: file, proxy: proxy))
        self.scopeIndex[name] = self.scopes.count - 1
        return self.scopes.count - 1
    }

    func relative(_ mono: UInt64) -> Int64 {
        Int64(bitPattern: mono &- (self.origin ?? 0))
    }

    // MARK: Requests

    mutating func request(_ event: Event, scope: Int, file: String, line: Int) throws {
        self.scopes[scope].messages += 1
        guard let conn = event.conn, let unit = event.unit else { return }
        let connKey = ConnKey(scope: scope, conn: conn)
        if self.conns[connKey] == nil { self.conns[connKey] = ConnState(client: "unknown") }
        let client = RequestOperation.host(of: self.conns[connKey]!.client)
        let lastByte = event.mono ?? self.now
        let start = min(event.firstMono ?? lastByte, lastByte)
        var key = event.idempotencyKey
        if self.keyFromHeader {
            if let payload = event.payload {
                key = RequestOperation.header(self.options.keyHeader, inPayload: payload)
            } else if event.method != nil {
                throw InvalidInputError(
                    "\(file):\(line): --key-header \(self.options.keyHeader) is read from the request's bytes, and this log has no payloads; record it with 'faultline proxy --record-payloads' (only Idempotency-Key is logged without them)"
                )
            } else {
                key = nil
            }
        }
        let framing = self.scopes[scope].framing
        let operation = RequestOperation.name(
            framing: framing, method: event.method, path: event.path, command: event.command, payload: event.payload
        )
        let safety = RequestOperation.safety(
            operation: operation, framing: framing, method: event.method, command: event.command, settings: self.settings
        )
        // Connection plumbing (a RESP client's handshake and health checks) goes out on
        // every new connection and idle check, not as the client's operations: never an
        // attempt, so a reconnecting client's HELLOs are not one request retried.
        if let command = event.command, RequestOperation.connectionCommands.contains(command.uppercased()) { return }
        let reused = self.conns[connKey]!.requestsSeen > 0
        self.conns[connKey]!.requestsSeen += 1
        self.summary.attempts += 1

        var attempt = AttemptState(
            request: 0, index: 0, proxy: event.proxy ?? "proxy", conn: conn, connKey: connKey, unit: unit, line: line,
            start: start, lastByte: lastByte, key: key, fingerprint: event.fingerprint, reused: reused
        )
        if let stop = self.conns[connKey]!.stop {
            if stop.upstream {
                attempt.forwarded = false
                attempt.outcome = .notApplied
                attempt.withheld = true
                attempt.fault = stop.fault
            } else if stop.downstream {
                attempt.outcome = .ambiguous
                attempt.withheld = true
                attempt.fault = stop.fault
            }
        }
        let ref = self.place(attempt, client: client, operation: operation, safety: safety)
        self.conns[connKey]!.requests[unit] = ref
        if let pending = self.conns[connKey]!.pendingUp.removeValue(forKey: unit) {
            for fault in pending { self.applyRequestFault(fault, to: ref, connKey: connKey, faultIndex: nil) }
        }
    }

    /// Puts an attempt into its logical request (docs/checker.md): same key, else same
    /// fingerprint from the same client host, within the window after the previous
    /// attempt's end, and only after a failure (a repeat after success is a new logical
    /// request: CR-22).
    mutating func place(_ incoming: AttemptState, client: String, operation: String, safety: RequestOperation.Safety) -> AttemptRef {
        var attempt = incoming
        var join: Int?
        var keyChanged = false
        var reusedKeyOf: Int?
        var duplicateOf: Int?
        var duplicateKeyed = false
        var duplicateAfterFault: String?
        var rekeyedAfter: LogicalRequest.Rekeyed?
        // A request nothing open has sent before (no key, no fingerprint in use): new work,
        // begun now.
        let firstSeen =
            attempt.key.map { self.byKey[attempt.proxy + "\u{0}" + $0] == nil } ?? true
            && attempt.fingerprint.map { self.byFingerprint[FingerprintKey(proxy: attempt.proxy, client: client, fingerprint: $0)] == nil } ?? true
        if let key = attempt.key, let id = self.byKey[attempt.proxy + "\u{0}" + key], let group = self.open[id],
            attempt.start <= group.lastEnd + self.windowNs
        {
            if let mine = attempt.fingerprint, let theirs = group.fingerprint, mine != theirs {
                reusedKeyOf = id
            } else if group.lastSucceeded(by: attempt.start) {
                duplicateOf = id
                duplicateKeyed = true
            } else {
                join = id
            }
        } else if let fingerprint = attempt.fingerprint,
            let id = self.requestToJoin(attempt, FingerprintKey(proxy: attempt.proxy, client: client, fingerprint: fingerprint), safety: safety),
            let group = self.open[id], attempt.start <= group.lastEnd + self.windowNs
        {
            if group.lastSucceeded(by: attempt.start) {
                if attempt.key == nil || group.lastKey == nil || attempt.key == group.lastKey {
                    duplicateOf = id
                    duplicateKeyed = attempt.key != nil && attempt.key == group.lastKey
                    duplicateAfterFault = group.attempts.last?.fault
                }
            } else if attempt.key == nil, safety == .idempotent, self.anotherCallerAtOnce(attempt, group) {
                // Sent at once after the failure while another caller of the same request
                // was in flight: one of several callers, not a retry we can attribute.
            } else if attempt.key == nil, self.callEnded(before: attempt, group) {
                // The call that failed was over (its client gave up, or moved on to
                // other work): this is the next call, not its retry.
            } else if let mine = attempt.key, let theirs = group.lastKey, mine != theirs {
                // Another key on the same payload after a failure: the client says this
                // is another operation. A client that changes its key on every retry
                // looks the same on the wire, so CR-03 notes it without joining them
                // (joined, a careful client's run of identical operations would become
                // one request with too many attempts).
                rekeyedAfter = (id, theirs, group.attempts.last?.outcome)
            } else {
                join = id
                keyChanged = attempt.key != group.lastKey
            }
        }
        if let other = duplicateOf, !duplicateKeyed, let fingerprint = attempt.fingerprint, let success = self.open[other]?.attempts.last,
            let end = success.end, end <= attempt.start
        {
            self.repeats[FingerprintKey(proxy: attempt.proxy, client: client, fingerprint: fingerprint), default: RepeatCadence()]
                .add(gap: attempt.start - end, at: attempt.start)
        }
        let id: Int
        if let join {
            id = join
            attempt.request = id
            attempt.index = self.open[id]!.attempts.count
            if keyChanged { self.open[id]!.keyChanges.append(attempt.index) }
            self.open[id]!.attempts.append(attempt)
        } else {
            id = self.nextRequestID
            self.nextRequestID += 1
            attempt.request = id
            attempt.index = 0
            var group = LogicalRequest(id: id, operation: operation, client: client, safety: safety, fingerprint: attempt.fingerprint)
            group.reusedKeyOf = reusedKeyOf
            group.duplicateOf = duplicateOf
            group.duplicateKeyed = duplicateKeyed
            group.duplicateAfterFault = duplicateAfterFault
            group.rekeyedAfter = rekeyedAfter
            group.attempts.append(attempt)
            self.open[id] = group
        }
        self.conns[attempt.connKey]?.lastPlaced = (attempt.fingerprint, attempt.start, firstSeen ? attempt.start : (self.open[id]?.attempts.first?.start ?? attempt.start))
        if safety == .idempotent, attempt.key == nil, let fingerprint = attempt.fingerprint {
            let key = FingerprintKey(proxy: attempt.proxy, client: client, fingerprint: fingerprint)
            // Only what may still be in flight: the list stays as long as the callers are many.
            var refs = (self.inFlight[key] ?? []).filter { (self.attempt($0)?.end ?? .max) > attempt.start }
            refs.append(AttemptRef(request: id, index: attempt.index))
            self.inFlight[key] = refs
        }
        if let key = attempt.key { self.byKey[attempt.proxy + "\u{0}" + key] = id }
        if let fingerprint = attempt.fingerprint {
            self.byFingerprint[FingerprintKey(proxy: attempt.proxy, client: client, fingerprint: fingerprint)] = id
            self.byConnection[ConnFingerprint(conn: attempt.connKey, fingerprint: fingerprint)] = id
        }
        return AttemptRef(request: id, index: attempt.index)
    }

    /// Several callers at work on one request (docs/checker.md, grouping step 5): an
    /// idempotent, unkeyed `attempt` sent at once (within `min_gap`) after the failure
    /// it would retry, while another attempt with the same fingerprint from the same
    /// client is in flight on another connection, is not counted as that failure's
    /// retry. Callers sharing one pool hand each other its connections: the caller just
    /// served, or one waking from its own backoff, takes the connection the failure came
    /// back on (a trial: go-retryablehttp, Faraday and redigo workers polling one URL or
    /// key with backoffs of 50 ms or more got CR-06 and CR-10 from 1 ms gaps). A client
    /// retrying at once looks the same, so only a retry that cannot be told apart is
    /// left out; with no other caller in flight it stays a retry.
    mutating func anotherCallerAtOnce(_ attempt: AttemptState, _ group: LogicalRequest) -> Bool {
        guard let last = group.attempts.last, let end = last.end, end <= attempt.start, Double(attempt.start - end) < self.minGapNs,
            let fingerprint = attempt.fingerprint
        else { return false }
        let key = FingerprintKey(proxy: attempt.proxy, client: group.client, fingerprint: fingerprint)
        guard let refs = self.inFlight[key] else { return false }
        var kept: [AttemptRef] = []
        var another = false
        for ref in refs {
            guard let other = self.attempt(ref), (other.end ?? .max) > attempt.start else { continue }
            kept.append(ref)
            if other.connKey != attempt.connKey, other.start <= attempt.start { another = true }
        }
        self.inFlight[key] = kept.isEmpty ? nil : kept
        return another
    }

    /// Whether the call whose last attempt failed was over before `attempt`, which is
    /// then the client's next call with the same request, not a retry (docs/checker.md,
    /// grouping step 7):
    /// - **it moved on**: `attempt` goes out on the failed attempt's own connection, or
    ///   on one opened after that attempt ended, and the request just before it there
    ///   was other work begun after the failed attempt was sent (a request whose first
    ///   attempt came later, even if this one is its retry). A client that re-sends a
    ///   command after a failure re-sends it first;
    ///   one that sends `SET k:7`, `GET k:6` and then `INCR ctr` again is doing its next
    ///   round of work (a trial: redis-rb, which does not retry `LOADING`, and redigo
    ///   after a reset). Not on another connection that was already open, and not for
    ///   HTTP at all: HTTP pools hand their connections from one caller to the next, so
    ///   the request before may be another caller's (a trial: cenkalti/backoff workers'
    ///   retries, right after other workers' first GETs on the same connection);
    /// - **it gave up**: the failed attempt was answered on a kept-alive connection that
    ///   had carried an earlier attempt of the same request (the client retries on the
    ///   connection it holds), and the client then closed that connection before
    ///   `attempt` went out on another one (go-retryablehttp closes its idle
    ///   connections when it gives up; a client that reconnects to retry does so after
    ///   every failure, not only the last).
    func callEnded(before attempt: AttemptState, _ group: LogicalRequest) -> Bool {
        guard let last = group.attempts.last else { return false }
        if self.scopes[attempt.connKey.scope].framing != "http",
            let previous = self.conns[attempt.connKey]?.lastPlaced, previous.fingerprint != attempt.fingerprint,
            previous.began > last.start, previous.start > last.start,
            attempt.connKey == last.connKey
                || (self.conns[attempt.connKey]?.openedAt).map({ $0 >= (last.end ?? last.lastByte) }) == true
        {
            return true
        }
        if attempt.connKey != last.connKey, Self.answered(last), !Self.succeeded(last), last.closedByClient,
            let closed = last.closedAt, closed <= attempt.start,
            group.attempts.dropLast().contains(where: { $0.connKey == last.connKey })
        {
            return true
        }
        return false
    }

    /// The open logical request with `key`'s fingerprint that `attempt` may continue:
    /// the latest, unless `attempt` is another caller's. Workers polling the same URL,
    /// each on its own kept-alive connection, otherwise read as one request retried at
    /// once by several hands (a trial: CR-06 and CR-10 on careful clients). When the
    /// latest request's last attempt went out on another connection, `attempt` is
    /// another caller's
    /// - when its connection already carries its own request with this fingerprint:
    ///   `attempt` continues that one (a client retrying reuses the connection it used
    ///   last, as pools hand it back);
    /// - when it is the first on a connection opened before that last attempt ended (or,
    ///   if still in flight, began): the connection was opened for `attempt` before the
    ///   failure it would answer. A retry on a new connection opens it after.
    /// - when it went out at once (within `min_gap`) after that attempt was answered on a
    ///   connection still open, on another kept-alive connection: several callers on a
    ///   warm pool (a trial: eight `fetch`es of one URL each on its own connection, all
    ///   answered 500 within 4 ms).
    /// A client whose shared pool hands a retry another connection it used before keeps
    /// its chain unless that connection carried the same request too. Only for
    /// idempotent requests: a pool may open a spare connection ahead of time (undici
    /// does), and an unkeyed POST retried on it must stay joined, for CR-01.
    func requestToJoin(_ attempt: AttemptState, _ key: FingerprintKey, safety: RequestOperation.Safety) -> Int? {
        guard let latest = self.byFingerprint[key], let group = self.open[latest] else { return nil }
        guard safety == .idempotent, let last = group.attempts.last, last.connKey != attempt.connKey else { return latest }
        if attempt.reused {
            if let mine = self.byConnection[ConnFingerprint(conn: attempt.connKey, fingerprint: key.fingerprint)],
                self.open[mine]?.attempts.last?.connKey == attempt.connKey
            {
                return mine
            }
            // At once (within `min_gap`) after an answer on a connection still open and
            // idle, on another kept-alive one: callers sharing a warm pool. A client
            // retrying at once is handed back the connection it just used.
            if let end = last.end, end <= attempt.start, Double(attempt.start - end) < self.minGapNs, Self.answered(last),
                self.conns[last.connKey] != nil, (last.closedAt ?? .max) > attempt.start
            {
                return nil
            }
            return latest
        }
        let since = last.end.map { $0 <= attempt.start ? $0 : last.start } ?? last.start
        guard let opened = self.conns[attempt.connKey]?.openedAt, opened < since else { return latest }
        return nil
    }

    // MARK: Replies

    mutating func reply(_ event: Event, scope: Int) {
        guard let conn = event.conn, let unit = event.unit else { return }
        let connKey = ConnKey(scope: scope, conn: conn)
        guard self.conns[connKey] != nil else { return }
        let ref: AttemptRef?
        if let requestUnit = event.requestUnit {
            ref = self.conns[connKey]!.requests[requestUnit]
        } else {
            ref = self.oldestAwaiting(connKey)
        }
        guard let ref, self.open[ref.request] != nil else { return }
        let alreadyLost = self.conns[connKey]!.replies[unit] == ref
        self.conns[connKey]!.replies[unit] = ref
        let mono = event.mono ?? self.now
        let chunkDelay = self.conns[connKey]!.pendingChunkDelay
        self.conns[connKey]!.pendingChunkDelay = 0
        self.update(ref) { attempt in
            attempt.replyUnit = unit
            attempt.replyMono = mono
            attempt.replyDelay = max(attempt.replyDelay, chunkDelay)
            attempt.status = event.status ?? attempt.status
            attempt.retryAfter = event.retryAfter ?? attempt.retryAfter
            attempt.replyTime = event.time
            guard !alreadyLost else { return }
            switch attempt.outcome {
            case nil, .answered?:
                attempt.outcome = .answered
                attempt.end = mono + attempt.replyDelay
            default:
                break
            }
        }
        if let pending = self.conns[connKey]!.pendingDown.removeValue(forKey: unit) {
            for fault in pending { self.applyReplyFault(fault, to: ref) }
        }
        if let attempt = self.attempt(ref), attempt.outcome == .answered, let fingerprint = attempt.fingerprint, let client = self.open[ref.request]?.client {
            let key = FingerprintKey(proxy: attempt.proxy, client: client, fingerprint: fingerprint)
            if Self.pollAnswer(attempt) {
                self.polls[key] = (mono, nil)
            } else if Self.succeeded(attempt), self.polls[key] != nil {
                self.polls[key]!.ready = mono
            }
        }
    }

    /// The oldest forwarded request on a connection still waiting for its reply.
    func oldestAwaiting(_ connKey: ConnKey) -> AttemptRef? {
        guard let state = self.conns[connKey] else { return nil }
        return state.requests.filter { _, ref in
            guard let attempt = self.attempt(ref) else { return false }
            return attempt.forwarded && attempt.replyUnit == nil && (attempt.outcome == nil || attempt.outcome == .ambiguous && !attempt.withheld)
        }.min { $0.key < $1.key }?.value
    }

    func attempt(_ ref: AttemptRef) -> AttemptState? {
        guard let group = self.open[ref.request], ref.index < group.attempts.count else { return nil }
        return group.attempts[ref.index]
    }

    mutating func update(_ ref: AttemptRef, _ change: (inout AttemptState) -> Void) {
        guard self.open[ref.request] != nil, ref.index < self.open[ref.request]!.attempts.count else { return }
        change(&self.open[ref.request]!.attempts[ref.index])
    }
}
