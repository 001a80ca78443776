import Foundation
import FaultlineCore

/// Finishing logical requests: the per-request rules, and the aggregates the per-client
/// rules need, after which the request is forgotten.
extension RetryChecker {
    /// HTTP statuses a retry cannot fix (docs/checker.md, CR-14); 413 only without Retry-After.
    static let nonRetryable: Set<Int> = [400, 401, 403, 404, 405, 410, 411, 413, 414, 415, 422, 501]

    mutating func sweep(force: Bool) {
        self.lastSweep = self.now
        self.eventsSinceSweep = 0
        let due = self.open.compactMap { id, group in force || self.canFinish(group) ? id : nil }.sorted()
        for id in due { self.finishRequest(id) }
        // A cadence or a poll's success is evidence while requests it may explain can
        // still be judged.
        let horizon = self.now > 2 * self.windowNs ? self.now - 2 * self.windowNs : 0
        if force, self.open.isEmpty {
            self.repeats.removeAll()
            self.polls.removeAll()
        } else if !force {
            if !self.repeats.isEmpty { self.repeats = self.repeats.filter { $0.value.last >= horizon } }
            if !self.polls.isEmpty { self.polls = self.polls.filter { ($0.value.ready ?? $0.value.notReady) >= horizon } }
        }
    }

    /// No later attempt can join (the window after its last end has passed) and no later
    /// event can change an attempt's outcome.
    func canFinish(_ group: LogicalRequest) -> Bool {
        guard group.lastEnd + self.windowNs <= self.now else { return false }
        return group.attempts.allSatisfy { attempt in
            attempt.settled || Self.answered(attempt)
                || (attempt.outcome != nil && attempt.end != nil)
        }
    }

    mutating func finishRequest(_ id: Int) {
        guard let group = self.open.removeValue(forKey: id) else { return }
        for attempt in group.attempts {
            if let key = attempt.key, self.byKey[attempt.proxy + "\u{0}" + key] == id { self.byKey[attempt.proxy + "\u{0}" + key] = nil }
            if let fingerprint = attempt.fingerprint {
                let key = FingerprintKey(proxy: attempt.proxy, client: group.client, fingerprint: fingerprint)
                if self.byFingerprint[key] == id { self.byFingerprint[key] = nil }
                let onConnection = ConnFingerprint(conn: attempt.connKey, fingerprint: fingerprint)
                if self.byConnection[onConnection] == id { self.byConnection[onConnection] = nil }
                if let refs = self.inFlight[key] {
                    let kept = refs.filter { $0.request != id }
                    self.inFlight[key] = kept.isEmpty ? nil : kept
                }
            }
            let ref = AttemptRef(request: id, index: attempt.index)
            if self.conns[attempt.connKey]?.requests[attempt.unit] == ref { self.conns[attempt.connKey]?.requests[attempt.unit] = nil }
            if let reply = attempt.replyUnit, self.conns[attempt.connKey]?.replies[reply] == ref {
                self.conns[attempt.connKey]?.replies[reply] = nil
            }
        }
        let parts = self.splitByCaller(group).flatMap { self.splitAtPolls($0) }.flatMap { self.splitAtSuccesses($0) }
        if parts.count > 1, let lastAttempt = group.attempts.last,
            let holder = parts.first(where: { $0.attempts.contains { $0.connKey == lastAttempt.connKey && $0.unit == lastAttempt.unit } })
        {
            self.lastPartOf[group.id] = holder.id
        }
        for part in parts { self.evaluate(part) }
    }

    /// An idempotent, unkeyed request whose attempts were in flight at once on different
    /// connections was sent by several callers (threads, tasks, a pool's workers), not
    /// retried: one chain per connection, each its own logical request, in the order of
    /// their first attempts. A retry follows the end of the attempt before it; several
    /// callers fetching the same URL at once, each on a kept-alive connection, overlap
    /// (a trial: Node's Promise.all and Java threads got CR-06 and CR-10, exit 1). Not
    /// for requests that are not idempotent: a copy of a POST in flight at once is
    /// CR-15's to judge, and one left joined never hides CR-01.
    mutating func splitByCaller(_ group: LogicalRequest) -> [LogicalRequest] {
        let attempts = group.attempts
        guard group.safety == .idempotent, attempts.count > 1, attempts.allSatisfy({ $0.key == nil }) else { return [group] }
        let overlapped = attempts.indices.dropFirst().contains { j in
            attempts[j].connKey != attempts[j - 1].connKey && attempts[j].start + 1_000_000 < (attempts[j - 1].end ?? .max)
        }
        guard overlapped else { return [group] }
        var order: [ConnKey] = []
        var chains: [ConnKey: [AttemptState]] = [:]
        for attempt in attempts {
            if chains[attempt.connKey] == nil { order.append(attempt.connKey) }
            chains[attempt.connKey, default: []].append(attempt)
        }
        // The first chain keeps the request's number and what it refers to.
        var first = group
        first.keyChanges = []
        first.attempts = Self.renumbered(chains[order[0]]!, into: group.id, rows: &self.timelineFaults)
        return [first] + order.dropFirst().map { self.part(of: group, chains[$0]!) }
    }

    /// Polling (docs/checker.md, grouping step 8): a request the server answered with a
    /// status CR-14 calls one no retry can fix (404 "not ready yet"), sent again no sooner
    /// than `min_gap` after that answer, and answered with a success later in the same
    /// logical request, was evidently fixable by asking again: the client was polling a
    /// resource that was not ready, not retrying a failure. Each such answer ends a
    /// logical request, as a success does (a plain Go loop polling GET /jobs/ID every
    /// 300 ms until 200 got CR-14, CR-08 and CR-07 in a trial). Only the server's own
    /// answers count: a status a fault put in its place says nothing about the resource.
    /// A client hammering a 404 that never turns into a success, or re-sending at once,
    /// stays one logical request (CR-14, CR-06); a failure a fault injected between two
    /// polls stays in its poll's request, and its retry is judged on backoff.
    mutating func splitAtPolls(_ group: LogicalRequest) -> [LogicalRequest] {
        let attempts = group.attempts
        guard attempts.count > 1 else { return [group] }
        // The success may have landed in another logical request (another caller's, by
        // the grouping steps above): the server's answers to this request say it too.
        let inGroup = attempts.lastIndex(where: { $0.outcome == .answered && Self.succeeded($0) })
        let ready = self.fingerprintKey(group, 0).flatMap { self.polls[$0]?.ready }
        let cuts = attempts.indices.dropLast().filter { j in
            let answer = attempts[j]
            guard Self.pollAnswer(answer), let end = answer.end, attempts[j + 1].start >= end,
                (inGroup.map { $0 > j } ?? false) || (ready.map { $0 >= end } ?? false)
            else { return false }
            return Double(attempts[j + 1].start - end) >= self.minGapNs
        }
        guard !cuts.isEmpty else { return [group] }
        var parts: [LogicalRequest] = []
        var from = 0
        for cut in cuts + [attempts.count - 1] {
            let slice = Array(attempts[from...cut])
            if parts.isEmpty {
                var head = group
                head.attempts = slice
                head.keyChanges = group.keyChanges.filter { $0 <= cut }
                parts.append(head)
            } else {
                var piece = self.piece(of: group, slice)
                piece.keyChanges = group.keyChanges.filter { $0 > from && $0 <= cut }.map { $0 - from }
                parts.append(piece)
            }
            from = cut + 1
        }
        return parts
    }

    /// The logical request that now holds `id`'s last attempt (`id` itself unless it was
    /// split): what later requests that refer to it (CR-03, CR-04, CR-22) mean.
    func holding(_ id: Int) -> Int {
        self.lastPartOf[id] ?? id
    }

    /// The logical request cut after each attempt that succeeded. An attempt joins the
    /// one before it while that one is still in flight (its outcome unknown yet): a
    /// hedge, or the same request sent at once by another thread or poller. Once the
    /// earlier one succeeded, the later one was not its retry: it is a logical request
    /// of its own, which notes the overlap (CR-15, for requests that are not idempotent).
    mutating func splitAtSuccesses(_ group: LogicalRequest) -> [LogicalRequest] {
        let attempts = group.attempts
        guard let cut = attempts.indices.dropLast().first(where: { Self.succeeded(attempts[$0]) }) else { return [group] }
        var head = group
        head.attempts = Array(attempts[...cut])
        head.keyChanges = group.keyChanges.filter { $0 <= cut }
        var tail = self.part(of: group, Array(attempts[(cut + 1)...]))
        tail.keyChanges = group.keyChanges.filter { $0 > cut + 1 }.map { $0 - (cut + 1) }
        return [head] + self.splitAtSuccesses(tail)
    }

    /// A logical request of its own for `attempts`, split off `group` (which it
    /// overlapped): numbered from 0, and the timeline's fault rows follow them.
    mutating func part(of group: LogicalRequest, _ attempts: [AttemptState]) -> LogicalRequest {
        var part = self.piece(of: group, attempts)
        part.concurrentWith = group.id
        return part
    }

    /// A logical request of its own for `attempts`, cut from `group`: numbered from 0,
    /// and the timeline's fault rows follow them.
    mutating func piece(of group: LogicalRequest, _ attempts: [AttemptState]) -> LogicalRequest {
        var part = LogicalRequest(
            id: self.nextRequestID, operation: group.operation, client: group.client, safety: group.safety, fingerprint: attempts.first?.fingerprint
        )
        self.nextRequestID += 1
        part.attempts = Self.renumbered(attempts, into: part.id, rows: &self.timelineFaults)
        return part
    }

    /// `attempts` as the attempts of request `id`, numbered from 0; their fault rows in
    /// the timeline name it.
    static func renumbered(_ attempts: [AttemptState], into id: Int, rows: inout [CheckReport.Timeline.Fault]) -> [AttemptState] {
        attempts.enumerated().map { index, attempt in
            var attempt = attempt
            attempt.request = id
            attempt.index = index
            for row in attempt.faultRows where row < rows.count { rows[row].request = "R\(id)" }
            return attempt
        }
    }

    /// Ambiguous in Jepsen's sense: the server may have applied it and the client cannot know.
    static func unknownEffect(_ attempt: AttemptState) -> Bool {
        guard attempt.forwarded else { return false }
        switch attempt.outcome {
        case .ambiguous?, .clientGaveUp?, .reset?, .unknown?: return true
        default: return false
        }
    }

    static func seconds(_ ns: Double) -> String {
        let s = ns / 1e9
        if abs(s) >= 10 { return String(format: "%.0f s", s) }
        if abs(s) >= 1 { return String(format: "%.1f s", s) }
        return String(format: "%.0f ms", ns / 1e6)
    }

    // MARK: One logical request

    mutating func evaluate(_ group: LogicalRequest) {
        let attempts = group.attempts
        let count = attempts.count
        self.summary.logicalRequests += 1
        var aggregate = self.clients[group.client] ?? ClientAggregate()
        aggregate.logicalRequests += 1
        aggregate.maxAttempts = max(aggregate.maxAttempts, count)
        if count > 1 {
            self.summary.retried += 1
            aggregate.retried += 1
            aggregate.attemptsInRetried += count
        }

        // Gaps from the end the client saw to the next start (never from request start).
        var gaps: [Int64?] = Array(repeating: nil, count: count)
        var hedged: [Bool] = Array(repeating: false, count: count)
        var immediateIndices: [Int] = []
        // A client may wait out its backoff before it closes the connection that timed
        // out (urllib3 does): its close is then late by that wait, and the next attempt
        // follows it at once. The shortest hold of this request's given-up attempts
        // stands for its timeout; a close later than that counts the extra as part of
        // the gap, never as time the client kept waiting.
        let shortestHold = attempts.compactMap(Self.giveUpHold).min()
        for j in attempts.indices.dropFirst() {
            let previous = attempts[j - 1], current = attempts[j]
            if let end = previous.end {
                if end <= current.start {
                    let lateClose = Self.giveUpHold(previous).map { $0 - (shortestHold ?? $0) } ?? 0
                    gaps[j] = Int64(current.start - end + lateClose)
                } else if Self.answered(previous), end > current.start + 1_000_000 {
                    hedged[j] = true
                }
            }
            let gap = gaps[j].map(Double.init)
            // Go's Transport and its kin retry once, at once, when a reused connection
            // failed under them: a connection failure, not an answer.
            let connectionFailure = [.reset, .ambiguous, .notApplied].contains(previous.outcome) && previous.status == nil
            let transparent = j == 1 && previous.reused && connectionFailure && (gap ?? .infinity) < self.minGapNs
            let exempt = transparent || (j == 1 && previous.outcome == .notApplied)
            // A wait the server asked for (Retry-After) is the server's schedule, not the
            // client's backoff: CR-13 judges it, and no backoff rule counts it.
            guard Self.retryAfterWait(previous) == nil else {
                self.serverChosenWaits += 1
                continue
            }
            let index = min(j, Self.indexLimit)
            if let gap, !transparent {
                aggregate.gaps[index, default: Reservoir()].add(gap, random: &self.random)
                if gap > (aggregate.longestGap?.ns ?? -1) {
                    aggregate.longestGap = (gap, group.id, [], group.operation)
                }
            }
            if let gap, !exempt {
                aggregate.judged[index, default: 0] += 1
                if gap < self.minGapNs {
                    aggregate.immediate[index, default: 0] += 1
                    immediateIndices.append(index)
                }
            } else if gap == nil, !hedged[j], !exempt, self.isDatagram(previous), let bound = Self.gapBound(after: previous, before: current) {
                // The failure's time is unknown (a lost datagram's end is only its
                // session's), but the gap is no longer than the time between the two
                // sends: a retry sent sooner than `min_gap` after the attempt before it
                // was immediate whatever the failure's time. A longer one is unknown,
                // and counts against calling the index immediate.
                if Double(bound) < self.minGapNs {
                    aggregate.judged[index, default: 0] += 1
                    aggregate.immediate[index, default: 0] += 1
                    aggregate.immediateBySends += 1
                    immediateIndices.append(index)
                } else {
                    aggregate.unmeasured[index, default: 0] += 1
                }
            }
        }
        let evidence = self.evidence(group, gaps: gaps)
        if aggregate.longestGap?.request == group.id { aggregate.longestGap?.evidence = evidence }
        var ruleIDs: [String] = []
        let first = attempts[0], last = attempts[count - 1]
        let sortTime = self.relative(first.start)

        func report(_ id: String, _ severity: Severity, _ message: String) {
            ruleIDs.append(id)
            self.add(
                CheckReport.Finding(
                    rule: id, name: RetryRule.named(id).name, severity: severity, operation: group.operation, client: group.client,
                    message: message, fix: RetryRule.fix(id, framing: self.scopes[first.connKey.scope].framing), requests: ["R\(group.id)"], evidence: evidence
                ),
                sortTime: sortTime
            )
        }
        let r = "R\(group.id) \(group.operation)"

        // CR-01: a non-idempotent request retried, without a key, after an unknown outcome.
        if group.safety != .idempotent, count > 1 {
            self.samples["CR-01", default: 0] += count - 1
            var unsafe: Int?
            var afterNotApplied: Int?
            for j in attempts.indices.dropFirst() where attempts[j].key == nil {
                if Self.unknownEffect(attempts[j - 1]) {
                    unsafe = unsafe ?? j
                } else if attempts[j - 1].outcome == .notApplied {
                    afterNotApplied = afterNotApplied ?? j
                }
            }
            if self.settings.isEnabled("CR-01") {
                if let j = unsafe {
                    let previous = attempts[j - 1]
                    let severity: Severity = group.safety == .money ? .critical : self.settings.severity("CR-01", default: .high)
                    let message = "\(r): attempt \(j) re-sent without an idempotency key after attempt \(j - 1) ended \(previous.outcome?.rawValue ?? "unknown")\(previous.fault.map { " (\($0))" } ?? ""): the server may apply it twice (\(count) attempts in all)"
                    if let cadence = self.repeatCadence(group, resentAt: j) {
                        // The client sends this request again after successes too, and
                        // this re-send came no sooner than it does then: most likely its
                        // next repeat, not a retry. Noted, never raised.
                        report(
                            "CR-01", .info,
                            message
                                + ". Most likely not a retry: this client also sends the same request again after successes, \(Self.seconds(cadence)) after each (median of \(counted(self.repeats[self.fingerprintKey(group, j)!]!.gaps.count, "repeat"))), and this re-send came \(Self.seconds(Double(attempts[j].start - (previous.end ?? previous.lastByte)))) after attempt \(j - 1) ended, no sooner: its next repeat. INFO, as the wire cannot tell the two apart"
                        )
                    } else {
                        report("CR-01", severity, message)
                    }
                } else if let j = afterNotApplied {
                    report(
                        "CR-01", .info,
                        "\(r): attempt \(j) re-sent without a key after attempt \(j - 1) was not applied (it never reached the server): safe this time, but the client cannot tell this apart from a lost reply"
                    )
                }
            }
        }

        // CR-03: a key that appeared or went away within one logical request (HIGH), or
        // another key on the same payload right after a failed request (INFO by default:
        // a careful client's next operation with the same payload looks the same).
        if let before = group.rekeyedAfter {
            self.samples["CR-03", default: 0] += 1
            if self.settings.isEnabled("CR-03") {
                let severity = self.settings.severity("CR-03", default: .info)
                report(
                    "CR-03", severity,
                    "\(r): sent with key '\(first.key ?? "")' right after R\(self.holding(before.request)), the same request from the same client with key '\(before.key)', \(before.outcome.map { "ended \($0.rawValue)" } ?? "still in flight"): another operation with the same payload, or a retry that changed its key (then the server cannot tell it is a retry)"
                        + (severity == .info ? ". On the wire the two look the same: INFO unless --rules raises CR-03's severity" : "")
                )
            }
        }
        if count > 1, attempts.contains(where: { $0.key != nil }) {
            self.samples["CR-03", default: 0] += count - 1
            if let j = group.keyChanges.first, self.settings.isEnabled("CR-03") {
                let before = attempts[j - 1].key.map { "'\($0)'" } ?? "no key"
                let after = attempts[j].key.map { "'\($0)'" } ?? "no key"
                report(
                    "CR-03", self.settings.severity("CR-03", default: .high),
                    "\(r): the same request (same fingerprint, same client) came back at attempt \(j) with \(after) after attempt \(j - 1) with \(before) ended \(attempts[j - 1].outcome?.rawValue ?? "unknown"): the server cannot tell it is a retry (\(group.keyChanges.count) key change(s))"
                )
            }
        }

        // CR-04: a used key sent with another payload.
        if first.key != nil { self.samples["CR-04", default: 0] += 1 }
        if let other = group.reusedKeyOf, self.settings.isEnabled("CR-04") {
            report(
                "CR-04", self.settings.severity("CR-04", default: .medium),
                "\(r): key '\(first.key ?? "")' was already used by R\(self.holding(other)) for a different request (different fingerprint) within the window"
            )
        }

        // CR-10: too many attempts.
        self.samples["CR-10", default: 0] += 1
        let maxAttempts = Int(self.settings.threshold("CR-10", "max_attempts", default: Double(self.options.maxAttempts)))
        if count > maxAttempts, self.settings.isEnabled("CR-10") {
            report("CR-10", self.settings.severity("CR-10", default: .medium), "\(r): \(count) attempts (more than \(maxAttempts))")
        }

        // CR-12: attempts after the caller's deadline, or a retry span over 60 s.
        if count > 1 {
            self.samples["CR-12", default: 0] += 1
            let tolerance = UInt64(self.settings.threshold("CR-12", "tolerance", default: 50_000_000))
            if let deadline = self.options.deadline {
                let limit = first.start + UInt64(max(0, deadline.nanoseconds)) + tolerance
                if let late = attempts.firstIndex(where: { $0.start > limit }), self.settings.isEnabled("CR-12") {
                    report(
                        "CR-12", self.settings.severity("CR-12", default: .medium),
                        "\(r): attempt \(late) started \(Self.seconds(Double(attempts[late].start - first.start))) after attempt 0, past the \(Self.seconds(Double(deadline.nanoseconds))) deadline"
                    )
                }
            } else {
                let maxSpan = self.settings.threshold("CR-12", "max_span", default: 60e9)
                // In Double: a later attempt can carry an earlier first byte (a log's
                // first_mono is the client's word), and UInt64 would trap below zero.
                let span = Double(last.start) - Double(first.start)
                if span > maxSpan, self.settings.isEnabled("CR-12") {
                    report(
                        "CR-12", self.settings.rules["CR-12"]?.severity ?? .low,
                        "\(r): retried for \(Self.seconds(span)) (\(count) attempts) with no deadline given; more than \(Self.seconds(maxSpan))"
                    )
                }
            }
        }

        // CR-13: retried sooner than Retry-After asked.
        for j in attempts.indices.dropFirst() {
            let previous = attempts[j - 1]
            guard let (text, wait) = Self.retryAfterWait(previous) else { continue }
            self.samples["CR-13", default: 0] += 1
            let tolerance = max(self.settings.threshold("CR-13", "tolerance", default: 50_000_000), 0.05 * wait)
            let end = Double(previous.end ?? previous.lastByte)
            let waited = Double(attempts[j].start) - end
            if waited < wait - tolerance, self.settings.isEnabled("CR-13") {
                let severity: Severity = self.settings.rules["CR-13"]?.severity ?? (previous.status == 429 ? .high : .medium)
                report(
                    "CR-13", severity,
                    "\(r): attempt \(j) came \(Self.seconds(waited)) after attempt \(j - 1)'s \(previous.status.map(String.init) ?? "reply") with Retry-After \(text) (\(Self.seconds(wait)))"
                )
                break
            }
        }

        // CR-14: retried a failure a retry cannot fix (judged on the share at the end).
        var retriedNonRetryable: Int?
        for j in attempts.indices {
            guard let status = attempts[j].status, Self.nonRetryable.contains(status),
                status != 413 || attempts[j].retryAfter == nil
            else { continue }
            self.cr14Responses += 1
            if j < count - 1 {
                self.cr14Retried += 1
                retriedNonRetryable = retriedNonRetryable ?? j
            }
        }
        if let j = retriedNonRetryable, self.settings.isEnabled("CR-14"), self.cr14Candidates.count < Self.findingLimit {
            self.cr14Candidates.append(
                Candidate(
                    finding: CheckReport.Finding(
                        rule: "CR-14", name: RetryRule.named("CR-14").name, severity: self.settings.severity("CR-14", default: .medium),
                        operation: group.operation, client: group.client,
                        message: "\(r): retried after attempt \(j) got \(attempts[j].status ?? 0), a status no retry can fix",
                        fix: RetryRule.named("CR-14").fix, requests: ["R\(group.id)"], evidence: evidence
                    ),
                    sortTime: sortTime
                )
            )
        }

        // CR-15: a copy of a non-idempotent, unkeyed request while the one before was
        // in flight. INFO unless the rules raise it: a client hedging and two threads
        // sending the same request at once look the same on the wire.
        if group.safety != .idempotent {
            for j in attempts.indices.dropFirst() where attempts[j].key == nil {
                self.samples["CR-15", default: 0] += 1
            }
            let severity = self.settings.severity("CR-15", default: .info)
            let same = severity == .info ? ". A hedge, or the same operation sent twice at once (two threads): on the wire the two look the same, so this is INFO unless --rules raises CR-15's severity" : ""
            if let j = attempts.indices.dropFirst().first(where: { hedged[$0] && attempts[$0].key == nil }), self.settings.isEnabled("CR-15") {
                let overlap = Double((attempts[j - 1].end ?? 0) - attempts[j].start)
                report(
                    "CR-15", severity,
                    "\(r): attempt \(j) was sent while attempt \(j - 1) was still in flight (its reply came \(Self.seconds(overlap)) later): two copies of a non-idempotent request without a key\(same)"
                )
            } else if let other = group.concurrentWith, first.key == nil, self.settings.isEnabled("CR-15") {
                self.samples["CR-15", default: 0] += 1
                report(
                    "CR-15", severity,
                    "\(r): sent while R\(other), the same request from the same client, was still in flight (R\(other) then succeeded): two copies of a non-idempotent request without a key\(same)"
                )
            }
        }

        // CR-17: amplification under faults.
        if attempts.contains(where: { $0.fault != nil }) {
            aggregate.faultRequests += 1
            aggregate.faultAttempts += count
        }

        // CR-19: a reply withheld by a fault, and how long the client held on.
        let maxHold = self.settings.threshold("CR-19", "max_hold", default: 60e9)
        var held: (index: Int, ns: Double, letGo: Bool)?
        var timeout: UInt64?
        for j in attempts.indices {
            let attempt = attempts[j]
            // A time-out: the client closed while a reply was still owed (never after an
            // answer it had, a 503 included). The request's shortest one stands for the
            // client's timeout: a client may wait out its backoff before it closes.
            if attempt.closedByClient, let closed = attempt.closedAt, closed >= attempt.lastByte,
                attempt.outcome == .clientGaveUp || (attempt.withheld && attempt.outcome != .answered && attempt.outcome != .answeredByProxy)
            {
                timeout = min(timeout ?? .max, closed - attempt.lastByte)
            }
            guard attempt.withheld, !Self.succeeded(attempt) else { continue }
            var letGo: UInt64?
            if j + 1 < count, attempts[j + 1].start >= attempt.lastByte { letGo = attempts[j + 1].start }
            if attempt.closedByClient, let closed = attempt.closedAt { letGo = min(letGo ?? closed, closed) }
            if let letGo {
                self.samples["CR-19", default: 0] += 1
                let hold = Double(letGo - min(letGo, attempt.lastByte))
                if hold > maxHold, held == nil { held = (j, hold, true) }
            } else {
                // The client never let go: the proxy, the server or the log's end did.
                let until = attempt.closedAt ?? self.endMono
                let hold = Double(until - min(until, attempt.lastByte))
                // Someone else ended the wait (the server, a fault's close, the proxy
                // stopping, the log's end): that says only that the client held on that
                // long, which any timeout longer than the hold allows. Only a hold past
                // max_hold is evidence of no timeout.
                if hold > maxHold {
                    self.samples["CR-19", default: 0] += 1
                    if held == nil { held = (j, hold, false) }
                } else {
                    self.cr19Inconclusive += 1
                }
            }
        }
        if let timeout { aggregate.timeouts.add(Double(timeout), random: &self.random) }
        if let held, self.settings.isEnabled("CR-19") {
            let attempt = attempts[held.index]
            let how =
                held.letGo
                ? "the client waited \(Self.seconds(held.ns)) before giving up"
                : "the client never gave up: \(Self.seconds(held.ns)) until the \(attempt.closedAt == nil ? "log ended" : "proxy or server closed the connection")"
            report(
                "CR-19", self.settings.severity("CR-19", default: .high),
                "\(r): \(attempt.forwarded ? "attempt \(held.index)'s reply was withheld" : "attempt \(held.index) was held before the server") (\(attempt.fault ?? "fault")) and \(how) (limit \(Self.seconds(maxHold)))"
            )
        }

        // CR-22: the same non-idempotent request again after it succeeded. INFO unless
        // the rules raise it: the log shows the success reaching the client's socket,
        // not the client reading it, so the same request again is as likely meant (a
        // counter, a second identical order, a careful client's next operation) as a
        // client that did not see the success. With the same key, that client retries
        // as it should.
        if let other = group.duplicateOf, group.safety != .idempotent {
            self.samples["CR-22", default: 0] += 1
            if self.settings.isEnabled("CR-22") {
                let severity = self.settings.severity("CR-22", default: .info)
                let why =
                    group.duplicateKeyed
                    ? " (only a server that deduplicates on the key stops it applying twice)"
                    : (group.duplicateAfterFault.map { " (\($0) touched that success)" } ?? "")
                        + ": meant (a counter, a second identical order) or a client that did not see the success; if it was a retry, the server may apply it twice"
                report("CR-22", severity, "\(r): sent again after R\(self.holding(other)) succeeded with the same \(group.duplicateKeyed ? "key" : "request")\(why)")
            }
        }

        // CR-06 per request, judged at the end against the client's per-index medians.
        if immediateIndices.count >= 2 {
            aggregate.immediateRequestsTotal += 1
            if aggregate.immediateRequests.count < 50 {
                aggregate.immediateRequests.append((group.id, immediateIndices, evidence, group.operation))
            }
        }
        if count - 1 >= 3 { aggregate.longRequests += 1 }
        if count > 1, !Self.succeeded(last) {
            // Zero, not a trap, when the last attempt ended before the first began (a
            // log's times are the client's and the proxy's word, not a proof). A lost
            // datagram's end is only its session's (an idle timeout, long after the
            // client gave up): there the span runs to the last attempt's send.
            let sessionEnd = self.isDatagram(last) && last.outcome != .answered
            let end = sessionEnd ? last.lastByte : (last.end ?? last.lastByte)
            let span = end > first.start ? end - first.start : 0
            aggregate.deadline = max(aggregate.deadline ?? 0, span)
        }
        self.clients[group.client] = aggregate

        if group.id <= Self.timelineLimit {
            self.timelineRows[group.id] = CheckReport.Timeline.Request(
                id: "R\(group.id)", operation: group.operation, client: group.client,
                attempts: attempts.map { attempt in
                    CheckReport.Timeline.Attempt(
                        startNs: self.relative(attempt.start), endNs: attempt.end.map(self.relative), outcome: attempt.outcome ?? .unknown,
                        status: Self.statusSeen(attempt), fault: attempt.fault
                    )
                },
                findings: ruleIDs
            )
        }
    }

    /// The server answered with a status CR-14 names (a 404 "not ready yet", or a
    /// deterministic failure): a poll's answer if a success follows (`splitAtPolls`).
    static func pollAnswer(_ attempt: AttemptState) -> Bool {
        guard attempt.outcome == .answered, let status = attempt.status, Self.nonRetryable.contains(status) else { return false }
        return status != 413 || attempt.retryAfter == nil
    }

    func fingerprintKey(_ group: LogicalRequest, _ j: Int) -> FingerprintKey? {
        group.attempts[j].fingerprint.map { FingerprintKey(proxy: group.attempts[j].proxy, client: group.client, fingerprint: $0) }
    }

    /// CR-01's evidence that attempt `j` of `group` re-sent after an unknown outcome is
    /// the client's next repeat of a request it sends again on purpose, not a retry
    /// (docs/checker.md, CR-01): the client also sends this request (fingerprint, client)
    /// again after successes, with steady waits (the longest at most twice the shortest),
    /// and this re-send came no sooner after the failure than 0.8 of their median, and
    /// not at once (`min_gap`). Returns that median. A client that re-sends right after
    /// a failure, or sooner than it repeats, is judged as before.
    func repeatCadence(_ group: LogicalRequest, resentAt j: Int) -> Double? {
        guard j > 0, group.attempts[j].key == nil, let key = self.fingerprintKey(group, j), let cadence = self.repeats[key]?.steady
        else { return nil }
        let previous = group.attempts[j - 1]
        let failed = previous.end ?? previous.lastByte
        guard group.attempts[j].start >= failed else { return nil }
        let gap = Double(group.attempts[j].start - failed)
        return gap >= max(self.minGapNs, 0.8 * cadence) ? cadence : nil
    }

    /// A reply reached the client (from the server or in its place).
    static func answered(_ attempt: AttemptState) -> Bool {
        attempt.outcome == .answered || attempt.outcome == .answeredByProxy
    }

    /// The status of a reply the client received; a reply a fault kept from it (an
    /// ambiguous attempt, one the client gave up on) shows none in the reports.
    static func statusSeen(_ attempt: AttemptState) -> Int? {
        Self.answered(attempt) ? attempt.status : nil
    }

    /// The Retry-After a reply the client received asked for, as written and in
    /// nanoseconds, when the checker can read it (one a fault kept from the client asked
    /// it for nothing). CR-13 judges the wait; the backoff rules leave it out.
    static func retryAfterWait(_ attempt: AttemptState) -> (text: String, ns: Double)? {
        guard Self.answered(attempt), let text = attempt.retryAfter,
            let ns = RetryAfter.nanoseconds(text, replyTime: attempt.replyTime)
        else { return nil }
        return (text, ns)
    }

    /// The attempt went through a UDP proxy: a lost datagram's end is only its session's.
    func isDatagram(_ attempt: AttemptState) -> Bool {
        self.scopes[attempt.connKey.scope].framing == "datagram"
    }

    /// The most a retry's gap can be when the attempt before it failed at an unknown
    /// time: from that attempt's last byte to the retry's first. Nil when the attempt
    /// before was answered (its reply's time is known, or it overlaps the retry: CR-15's
    /// case) or when the two overlap.
    static func gapBound(after previous: AttemptState, before current: AttemptState) -> UInt64? {
        guard !Self.answered(previous), current.start >= previous.lastByte else { return nil }
        return current.start - previous.lastByte
    }

    /// How long after its last byte the client closed an attempt whose end it saw only
    /// by closing (no reply reached it, no cut): the attempts it gave up on.
    static func giveUpHold(_ attempt: AttemptState) -> UInt64? {
        guard attempt.closedByClient, let end = attempt.end, end == attempt.closedAt, end >= attempt.lastByte else { return nil }
        return end - attempt.lastByte
    }

    /// The attempts as evidence (the first ones and the last, at most `evidenceLimit`).
    func evidence(_ group: LogicalRequest, gaps: [Int64?]) -> [CheckReport.AttemptEvidence] {
        var indices = Array(group.attempts.indices)
        if indices.count > Self.evidenceLimit {
            indices = Array(indices.prefix(Self.evidenceLimit - 1)) + [indices.last!]
        }
        return indices.map { j in
            let attempt = group.attempts[j]
            return CheckReport.AttemptEvidence(
                request: "R\(group.id)", attempt: j, proxy: attempt.proxy, conn: attempt.conn, unit: attempt.unit, line: attempt.line,
                startNs: self.relative(attempt.start), endNs: attempt.end.map(self.relative), outcome: attempt.outcome ?? .unknown,
                status: Self.statusSeen(attempt), fault: attempt.fault, gapNs: gaps[j], idempotencyKey: attempt.key
            )
        }
    }

    /// Keeps a finding, at most `findingLimit` per rule (the rest are counted).
    mutating func add(_ finding: CheckReport.Finding, sortTime: Int64) {
        let count = self.findingCounts[finding.rule, default: 0]
        self.findingCounts[finding.rule] = count + 1
        if count < Self.findingLimit {
            self.findings.append(Candidate(finding: finding, sortTime: sortTime))
        }
    }
}
