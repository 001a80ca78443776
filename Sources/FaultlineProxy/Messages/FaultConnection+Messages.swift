import FaultlineCore
import FaultlineFraming
import NIOCore

/// The connection-wide part of message faults: decisions, fault events, answers written
/// in the server's place, and copies of duplicated requests.
extension FaultConnection {
    /// The message stage for `direction`, to sit between the framer and the unframer of
    /// the channel that reads that direction. Needs `messages`.
    func messageStage(for direction: Event.Direction) -> MessageStage? {
        guard let messages = self.messages else { return nil }
        let stage = MessageStage(connection: self, support: messages, direction: direction)
        self.messageStages[local: direction] = stage
        return stage
    }

    /// The message rules that fire for one message; nothing is recorded yet (only the
    /// decisions carried out are, by `recordMessageFault`).
    func decideMessage(direction: Event.Direction, facts: MessageFacts, now: NIODeadline) -> [FaultDecision] {
        self.refresh()
        return self.faults.decideMessage(
            direction: direction,
            facts: facts,
            sinceProxyStart: Self.duration(now - self.proxyStart),
            sinceOpen: Self.duration(now - self.openedAt)
        )
    }

    /// Logs a message fault that was carried out, with the attempt it hit when known.
    func recordMessageFault(_ decision: FaultDecision, attempt: UInt64?, now: NIODeadline) {
        var decision = decision
        if let attempt { decision.params["attempt"] = String(attempt) }
        self.record(decision, now: now)
    }

    /// Writes answers faultline gives in the server's place to the client, from the
    /// tail of its pipeline so they queue behind replies already forwarded (and behind
    /// delayed ones in the pacing stage). The client's ledger counts them as
    /// `injected_downstream`, apart from forwarded bytes.
    func writeInjected(_ replies: [ByteBuffer]) {
        guard !replies.isEmpty, !self.severed, let client = self.cutter.client, client.isActive else { return }
        for reply in replies {
            self.clientLedger.expectInjected(reply.readableBytes, ahead: self.held(.downstream))
            client.write(reply, promise: nil)
        }
        client.flush()
    }

    /// How long copies may outlast the connection's sockets: then those still waiting
    /// are not sent and those awaiting a reply end without one, so a slow server cannot
    /// hold a connection's `conn_close` back for long (as long as one copy may wait for
    /// its reply).
    static let copyLinger = DuplicateLeg.replyTimeout

    /// Sends `copies` more copies of `request` on the connection's `DuplicateLane` (one
    /// extra upstream connection at a time), copy *k* `k × gap` after now, and records
    /// each copy's reply. Each copy is unsettled until its `duplicate_reply` is
    /// recorded: the connection's close waits for that.
    func sendCopies(of request: FramedMessage, rule: String, copies: Int, gap: Duration, on loop: any EventLoop) {
        guard let messages = self.messages, copies > 0 else { return }
        for copy in 1...copies {
            self.copiesUnsettled += 1
            if let reason = self.copiesStopped {
                self.recordCopy(copy, of: request, rule: rule, outcome: .notSent("not sent: \(reason)"), now: loop.now)
                self.copySettled()
                continue
            }
            // Saturating: copy 8 of a long gap passes Int64.
            let delay = TimeAmount.nanoseconds(gap.nanoseconds).times(copy)
            if delay == .zero {
                self.dialCopy(copy, of: request, rule: rule, messages: messages, on: loop)
            } else {
                let key = self.nextDueCopy
                self.nextDueCopy += 1
                let timer = loop.assumeIsolated().scheduleTask(in: delay) { [self] in
                    guard self.dueCopies.removeValue(forKey: key) != nil else { return }
                    self.dialCopy(copy, of: request, rule: rule, messages: messages, on: loop)
                }
                self.dueCopies[key] = DueCopy(timer: timer, copy: copy, request: request, rule: rule)
            }
        }
    }

    private func dialCopy(_ copy: Int, of request: FramedMessage, rule: String, messages: MessageSupport, on loop: any EventLoop) {
        messages.duplicates.send(
            request,
            on: loop,
            client: self.cutter.client,
            written: { [self] bytes in self.addDuplicated(bytes, .upstream) },
            finish: { [self] request, outcome in
                self.recordCopy(copy, of: request, rule: rule, outcome: outcome, now: loop.now)
                self.copySettled()
            }
        )
    }

    /// Runs `action` once every copy of the connection's requests is settled (at once
    /// if none is pending). Called when both sockets have closed: copies still pending
    /// `copyLinger` later are ended then (`stopCopies`).
    func whenCopiesSettled(on loop: any EventLoop, _ action: @escaping () -> Void) {
        guard self.copiesUnsettled > 0 || self.stoppingCopies else {
            action()
            return
        }
        self.onCopiesSettled.append(action)
        guard self.copyLingerTimer == nil, self.copiesStopped == nil else { return }
        let seconds = Self.copyLinger.nanoseconds / 1_000_000_000
        self.copyLingerTimer = loop.assumeIsolated().scheduleTask(in: Self.copyLinger) { [self] in
            self.copyLingerTimer = nil
            self.stopCopies(because: "the client's connection had been closed for \(seconds)s", on: loop)
        }
    }

    /// No more copies go: those due later and those waiting for the copies' connection
    /// are recorded as not sent, those awaiting a reply end without one (their
    /// connection is closed), all with `reason`. For shutdown, which must not wait for
    /// copies beyond its grace, nor let one reach the server after `proxy_stop`.
    func stopCopies(because reason: String, on loop: any EventLoop) {
        guard self.copiesStopped == nil else { return }
        self.copiesStopped = reason
        self.copyLingerTimer?.cancel()
        self.copyLingerTimer = nil
        // The close waits until every copy has its event, not for the first that does.
        self.stoppingCopies = true
        // Oldest first: copies on their way, then those due later.
        self.messages?.duplicates.stop(because: reason)
        let due = self.dueCopies.sorted { $0.key < $1.key }.map(\.value)
        self.dueCopies = [:]
        for copy in due {
            copy.timer.cancel()
            self.recordCopy(copy.copy, of: copy.request, rule: copy.rule, outcome: .notSent("not sent: \(reason)"), now: loop.now)
            self.copiesUnsettled -= 1
        }
        self.stoppingCopies = false
        self.copySettled(count: 0)
    }

    /// A copy's event is recorded; the last one lets the connection's close go.
    private func copySettled(count: Int = 1) {
        self.copiesUnsettled -= count
        guard self.copiesUnsettled == 0, !self.stoppingCopies else { return }
        self.copyLingerTimer?.cancel()
        self.copyLingerTimer = nil
        let actions = self.onCopiesSettled
        self.onCopiesSettled = []
        for action in actions { action() }
    }

    /// The `duplicate_reply` event of one copy.
    private func recordCopy(_ copy: Int, of request: FramedMessage, rule: String, outcome: DuplicateLeg.Outcome, now: NIODeadline) {
        var event = Event(.duplicateReply)
        event.proxy = self.proxyName
        event.conn = self.ordinal
        event.direction = .downstream
        event.unit = request.unit
        event.rule = rule
        event.kind = MessageDuplicateFault.kind
        event.method = request.info?.method
        event.path = request.info?.path
        event.idempotencyKey = request.info?.idempotencyKey
        event.command = request.info?.command
        event.fingerprint = request.info?.fingerprint
        event.params = ["copy": String(copy), "request_bytes": String(request.bytes.readableBytes)]
        switch outcome {
        case .reply(let bytes, let info):
            event.bytes = bytes.readableBytes
            event.status = info.status
            if self.messages?.framing.recordPayloads == true { event.payload = Base64.encode(bytes) }
        case .failed(let reason):
            event.reason = reason
        case .notSent(let reason):
            event.reason = reason
            event.params?["sent"] = "false"
        }
        event.mono = now.uptimeNanoseconds
        self.events.record(event)
    }
}
