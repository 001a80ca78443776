import FaultlineCore

/// What faults and connection ends do to the attempts they touch (docs/checker.md, the
/// outcome classes, from what the proxy did).
extension RetryChecker {
    static let messageActions: Set<String> = ["drop", "respond", "duplicate", "reorder", "released"]
    /// The words UDP faults were logged with before both transports spoke one
    /// vocabulary, and today's: older logs read as new ones.
    static let olderActions = [
        "dropped": "drop", "duplicated": "duplicate", "held": "reorder", "delayed": "delay", "corrupted": "corrupt", "queued": "queue",
    ]

    mutating func fault(_ event: Event, scope: Int) {
        var event = event
        if let action = event.action, let today = Self.olderActions[action] { event.action = today }
        // A reorder's `released` is the second half of one fault, not another.
        if event.action != "released" { self.summary.faults += 1 }
        let kind = event.kind ?? event.action ?? "fault"
        let text = "\(event.rule ?? "?") (\(kind))"
        let mono = event.mono ?? self.now
        var faultIndex: Int?
        if event.action != "released" {
            if self.timelineFaults.count < Self.timelineFaultLimit {
                var span: Int64?
                if kind == "delay", let delay = event.params?["delay"].flatMap(DurationText.parse) {
                    span = self.relative(mono) + delay.nanoseconds
                }
                self.timelineFaults.append(
                    CheckReport.Timeline.Fault(startNs: self.relative(mono), endNs: span, rule: event.rule ?? "?", kind: kind)
                )
                faultIndex = self.timelineFaults.count - 1
            } else {
                self.timelineFaultsDropped += 1
            }
        }
        guard let conn = event.conn, kind != "refuse" else { return }
        let connKey = ConnKey(scope: scope, conn: conn)
        guard self.conns[connKey] != nil else { return }
        let action = event.action ?? kind
        let params = event.params ?? [:]
        let messageLevel = params["attempt"] != nil || params["at"] != nil || params["request_unit"] != nil || Self.messageActions.contains(action)

        if messageLevel, let unit = event.unit {
            if event.direction == .downstream {
                if let requestUnit = params["request_unit"].flatMap(UInt64.init), let ref = self.conns[connKey]!.requests[requestUnit] {
                    self.conns[connKey]!.replies[unit] = ref
                    self.applyReplyFault(event, to: ref, faultIndex: faultIndex)
                } else if let ref = self.conns[connKey]!.replies[unit] {
                    self.applyReplyFault(event, to: ref, faultIndex: faultIndex)
                } else if action == "drop" || kind == "sever", let ref = self.oldestAwaiting(connKey) {
                    // The reply was discarded before its message event: it answers the
                    // oldest request still waiting on this connection.
                    self.conns[connKey]!.replies[unit] = ref
                    self.applyReplyFault(event, to: ref, faultIndex: faultIndex)
                } else {
                    self.conns[connKey]!.pendingDown[unit, default: []].append(event)
                }
            } else if let ref = self.conns[connKey]!.requests[unit] {
                self.applyRequestFault(event, to: ref, connKey: connKey, faultIndex: faultIndex)
            } else {
                self.conns[connKey]!.pendingUp[unit, default: []].append(event)
            }
            if kind == "hang" || kind == "blackhole" {
                self.stop(event, connKey: connKey, text: text, kind: kind, faultIndex: faultIndex)
            }
            return
        }
        switch kind {
        case "hang", "blackhole", "sever":
            self.stop(event, connKey: connKey, text: text, kind: kind, faultIndex: faultIndex)
        case "delay" where event.direction == .downstream:
            // A chunk delay on reply bytes: chunks are held side by side, so the reply is
            // late by the longest delay of its chunks. It belongs to the reply framed at
            // (about) the same moment, else to the next reply on the connection.
            let delay = UInt64(max(0, params["delay"].flatMap(DurationText.parse)?.nanoseconds ?? 0))
            let near = self.conns[connKey]!.replies.values.first { ref in
                guard let reply = self.attempt(ref)?.replyMono else { return false }
                return reply <= mono + 50_000_000 && mono <= reply + 50_000_000
            }
            if let ref = near {
                self.applyChunkDelay(delay, text: text, to: ref, faultIndex: faultIndex)
            } else {
                self.conns[connKey]!.pendingChunkDelay = max(self.conns[connKey]!.pendingChunkDelay, delay)
            }
        default:
            break
        }
    }

    /// The timeline's fault row `index` hit this attempt; the attempt keeps the row, so
    /// the row follows it if its logical request is split (`splitAtSuccesses`).
    mutating func markFaultRow(_ index: Int, hit ref: AttemptRef) {
        self.timelineFaults[index].request = "R\(ref.request)"
        self.update(ref) { $0.faultRows.append(index) }
    }

    mutating func applyChunkDelay(_ delay: UInt64, text: String, to ref: AttemptRef, faultIndex: Int?) {
        if let faultIndex { self.markFaultRow(faultIndex, hit: ref) }
        self.update(ref) { attempt in
            attempt.fault = attempt.fault ?? text
            guard delay > attempt.replyDelay else { return }
            if attempt.outcome == .answered, let end = attempt.end { attempt.end = end + (delay - attempt.replyDelay) }
            attempt.replyDelay = delay
        }
    }

    /// Faults that slow or copy a message without deciding its outcome.
    static let minorKinds: Set<String> = ["delay", "reorder", "duplicate", "bandwidth", "slice"]

    /// A fault on a request message.
    mutating func applyRequestFault(_ event: Event, to ref: AttemptRef, connKey: ConnKey, faultIndex: Int?) {
        let kind = event.kind ?? event.action ?? "fault"
        let action = event.action ?? kind
        let text = "\(event.rule ?? "?") (\(kind))"
        let mono = event.mono ?? self.now
        let params = event.params ?? [:]
        if let faultIndex { self.markFaultRow(faultIndex, hit: ref) }
        self.update(ref) { attempt in
            attempt.fault = Self.minorKinds.contains(kind) || action == "released" ? attempt.fault ?? text : text
            switch (kind, action) {
            case (_, "drop"):
                attempt.forwarded = false
                attempt.outcome = .notApplied
                attempt.withheld = true
            case (_, "respond"):
                attempt.forwarded = false
                attempt.outcome = .answeredByProxy
                attempt.end = mono
                attempt.status = params["status"].flatMap(Int.init)
                attempt.retryAfter = params.first { $0.key.lowercased() == "header.retry-after" }?.value
                attempt.replyTime = event.time
            case ("sever", _):
                let point = params["at"] ?? "before"
                if point == "before" || point == "mid_message" {
                    attempt.forwarded = false
                    attempt.outcome = .notApplied
                } else {
                    attempt.outcome = action.contains("reset") ? .reset : .ambiguous
                }
                attempt.end = mono
            case ("hang", _), ("blackhole", _):
                attempt.forwarded = false
                attempt.outcome = .notApplied
                attempt.withheld = true
            default:
                break
            }
        }
    }

    /// A fault on a reply message (or a cut when it began).
    mutating func applyReplyFault(_ event: Event, to ref: AttemptRef, faultIndex: Int? = nil) {
        let kind = event.kind ?? event.action ?? "fault"
        let action = event.action ?? kind
        let text = "\(event.rule ?? "?") (\(kind))"
        let mono = event.mono ?? self.now
        if let faultIndex { self.markFaultRow(faultIndex, hit: ref) }
        self.update(ref) { attempt in
            attempt.fault = Self.minorKinds.contains(kind) ? attempt.fault ?? text : text
            switch (kind, action) {
            case (_, "drop"):
                attempt.outcome = .ambiguous
                attempt.withheld = true
                attempt.end = nil
            case ("delay", _):
                let delay = UInt64(max(0, event.params?["delay"].flatMap(DurationText.parse)?.nanoseconds ?? 0))
                attempt.replyDelay += delay
                if attempt.outcome == .answered, let end = attempt.end { attempt.end = end + delay }
            case ("sever", _):
                attempt.outcome = action.contains("reset") ? .reset : .ambiguous
                attempt.end = mono
            case ("hang", _), ("blackhole", _):
                attempt.outcome = .ambiguous
                attempt.withheld = true
                attempt.end = nil
            default:
                break
            }
        }
    }

    /// A connection stops carrying bytes in one or both directions (hang, blackhole,
    /// a cut): requests waiting for replies can no longer get them.
    mutating func stop(_ event: Event, connKey: ConnKey, text: String, kind: String, faultIndex: Int?) {
        let mono = event.mono ?? self.now
        let both = kind != "blackhole" || event.direction == nil
        let stop = Stop(
            mono: mono, fault: text, kind: kind,
            upstream: both || event.direction == .upstream,
            downstream: both || event.direction == .downstream
        )
        self.conns[connKey]!.stop = stop
        if let faultIndex, kind != "sever" { self.conns[connKey]!.openSpans.append(faultIndex) }
        let refs = Array(self.conns[connKey]!.requests.values)
        for ref in refs {
            guard let attempt = self.attempt(ref), attempt.outcome == nil else { continue }
            if let faultIndex, self.timelineFaults[faultIndex].request == nil { self.markFaultRow(faultIndex, hit: ref) }
            self.update(ref) { attempt in
                attempt.fault = text
                if event.direction == .upstream, event.unit == attempt.unit, kind != "sever" {
                    attempt.forwarded = false
                    attempt.outcome = .notApplied
                    attempt.withheld = true
                } else if stop.downstream {
                    attempt.outcome = kind == "sever" && (event.action ?? "").contains("reset") ? .reset : .ambiguous
                    if kind == "sever" { attempt.end = mono } else { attempt.withheld = true }
                }
            }
        }
    }

    // MARK: Connection ends

    mutating func close(_ event: Event, scope: Int, file: String) throws {
        guard let conn = event.conn else { return }
        let connKey = ConnKey(scope: scope, conn: conn)
        if self.scopes[scope].messages == 0, (self.scopes[scope].framing ?? "raw") == "raw",
            !self.scopes.contains(where: { $0.messages > 0 || ($0.framing ?? "raw") != "raw" })
        {
            throw InvalidInputError(
                "\(file): no request messages: the proxy ran without framing; run it with --framing http|resp|line|length"
            )
        }
        guard let state = self.conns.removeValue(forKey: connKey) else { return }
        let mono = event.mono ?? self.now
        let closed = min(event.firstCloseMono ?? mono, mono)
        let byClient = event.closedBy == "client"
        for span in state.openSpans where span < self.timelineFaults.count {
            self.timelineFaults[span].endNs = self.relative(mono)
        }
        for (unit, ref) in state.requests {
            self.update(ref) { attempt in
                attempt.settled = true
                attempt.closedAt = closed
                attempt.closedByClient = byClient
                switch attempt.outcome {
                case nil:
                    if event.reason == "upstream_unreachable" {
                        // The dial failed: nothing reached a server, whoever closed first.
                        attempt.outcome = .notApplied
                    } else if byClient {
                        attempt.outcome = .clientGaveUp
                    } else if (event.reason ?? "").contains("upstream_reset") || (event.reason ?? "").contains("client_reset") {
                        attempt.outcome = .reset
                    } else if event.closedBy == "proxy" || event.closedBy == "upstream" {
                        attempt.outcome = attempt.forwarded ? .ambiguous : .notApplied
                    } else {
                        attempt.outcome = .unknown
                    }
                    attempt.end = closed
                case .answered? where byClient && event.unansweredUnit == unit:
                    // The reply was still on its way (held by a delay) when the client
                    // stopped waiting: it never saw it.
                    attempt.outcome = .clientGaveUp
                    attempt.end = closed
                case .answered? where (attempt.end ?? 0) > closed:
                    attempt.outcome = byClient ? .clientGaveUp : .ambiguous
                    attempt.end = closed
                case .ambiguous?, .notApplied?, .reset?:
                    if attempt.end == nil { attempt.end = closed }
                default:
                    break
                }
            }
        }
    }
}
