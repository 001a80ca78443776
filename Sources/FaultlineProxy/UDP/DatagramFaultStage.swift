import FaultlineCore
import NIOCore

/// Applies one direction's datagram faults between the socket that read a datagram and
/// the socket that sends it on.
///
///     read ─▶ decideMessage ─┬─▶ drop (loss)
///                            └─▶ corrupt ─▶ hold (reorder) ─▶ delay ─▶ original + copies ─▶ rate ─▶ send
///
/// Each datagram is a unit of the one rule engine (`ConnectionFaults.decideMessage`,
/// keyed by its ordinal), read through the proxy's `LivePlan`: a plan change re-arms
/// the rules before the next datagram, and what the stage keeps per rule (Gilbert-
/// Elliott chains, rate buckets and their queues, held datagrams) stays. Chance comes
/// only from the plan; time only from the event loop (`now`, `scheduleTask`), so tests
/// drive it on an `EmbeddedEventLoop`. Held, delayed and queued datagrams are compact
/// copies, so one held datagram never pins a large receive buffer. A plan change that
/// ends a `delay` or `rate` rule sends what it holds at once (`planChanged`). When the
/// session closes, `flush()` sends everything still waiting at once, or `discard()`
/// (the proxy closing it itself) counts it as dropped, so accounting balances: nothing
/// is silently lost at the end.
///
/// Loop-bound: every call and callback runs on `eventLoop`.
final class DatagramFaultStage {
    /// Sends one datagram on; nil when it could not even be queued (socket full), which
    /// counts as dropped. The future completes when the socket took it.
    typealias Send = (ByteBuffer) -> EventLoopFuture<Void>?

    /// What the rules decided for one datagram: of each kind, the first rule in rule
    /// order that fired; a drop (`loss`) leaves no other effect.
    struct Disposition {
        var drop: FaultDecision?
        var corrupt: (decision: FaultDecision, rate: Double?, entropy: UInt64)?
        var hold: (decision: FaultDecision, after: Int?, delay: Duration)?
        var delay: (decision: FaultDecision, amount: Duration)?
        var duplicate: (decision: FaultDecision, copies: Int, gap: Duration)?
        var rate: (decision: FaultDecision, limit: DatagramRate)?

        init(_ decisions: [FaultDecision] = []) {
            if let drop = decisions.first(where: { $0.effect == .datagram(.drop) }) {
                self.drop = drop
                return
            }
            for decision in decisions {
                switch decision.effect {
                case .datagram(.corrupt(let rate, let entropy)) where self.corrupt == nil:
                    self.corrupt = (decision, rate, entropy)
                case .datagram(.reorder(let after, let delay)) where self.hold == nil:
                    self.hold = (decision, after, delay)
                case .delay(let amount) where self.delay == nil:
                    self.delay = (decision, amount)
                case .datagram(.duplicate(let copies, let gap)) where self.duplicate == nil:
                    self.duplicate = (decision, copies, gap)
                case .datagram(.rate(let limit)) where self.rate == nil:
                    self.rate = (decision, limit)
                default:
                    continue
                }
            }
        }

        /// Takes away what rules named in `ended` (no longer in the plan as they were)
        /// would still do: copies and a rate, and with `delay` a delay not yet begun.
        mutating func forget(_ ended: Set<String>, delay: Bool) {
            if delay, let held = self.delay, ended.contains(held.decision.rule) { self.delay = nil }
            if let duplicate = self.duplicate, ended.contains(duplicate.decision.rule) { self.duplicate = nil }
            if let rate = self.rate, ended.contains(rate.decision.rule) { self.rate = nil }
        }

        /// True when no rule touched the datagram: it is forwarded as it came.
        var isUntouched: Bool {
            self.drop == nil && self.corrupt == nil && self.hold == nil && self.delay == nil
                && self.duplicate == nil && self.rate == nil
        }
    }

    private let plan: LivePlan
    /// The rules armed for this session and direction, from the plan numbered
    /// `faults.version`.
    private var faults: ConnectionFaults
    /// The state of chained rules (Gilbert-Elliott loss), kept across plan changes.
    private var chains = ChainStates()
    private let session: UInt64
    private let direction: Event.Direction
    /// The ordinal the next datagram gets.
    private var next: UInt64 = 0
    /// When the proxy started and the session opened: rules' windows and the schedule
    /// count from these.
    private let proxyStart: NIODeadline
    private let sessionOpen: NIODeadline
    private let eventLoop: any EventLoop
    private let events: any EventSink
    private let proxyName: String
    private let send: Send

    private(set) var counters = DatagramCounters()
    /// Told of every datagram as it arrives, with its ordinal and whether a fault drops
    /// it at once (the session logs it as a `message`).
    var onArrival: ((_ ordinal: UInt64, _ buffer: ByteBuffer, _ dropped: Bool) -> Void)?

    /// A datagram held back by `reorder`.
    private struct Held {
        var ordinal: UInt64
        var buffer: ByteBuffer
        var disposition: Disposition
        var heldAt: NIODeadline
        var timer: Scheduled<Void>
    }

    /// Work waiting on the clock: a delayed datagram, a copy's gap.
    private struct Timed {
        var due: NIODeadline
        var work: Work
        var timer: Scheduled<Void>?
    }

    /// What a timer sends on, kept as data so a plan change can let go of it early or
    /// take away what a rule no longer in the plan would still do to it.
    private enum Work {
        /// A datagram a `delay` rule holds (`decision`, since `since`): then its copies
        /// and its rate, as `disposition` says.
        case delayed(buffer: ByteBuffer, ordinal: UInt64, disposition: Disposition, decision: FaultDecision, since: NIODeadline)
        /// A duplicate's copy due after its gap, then its rate.
        case copy(buffer: ByteBuffer, ordinal: UInt64, rate: (decision: FaultDecision, limit: DatagramRate)?)
    }

    /// A datagram a rate rule queues: its `queue` decision, and since when it waits.
    private struct Queued {
        var buffer: ByteBuffer
        var ordinal: UInt64
        var decision: FaultDecision
        var since: NIODeadline
    }

    /// A rate rule's bucket and queue.
    private struct Limiter {
        var bucket: DatagramTokenBucket
        var queue: CircularBuffer<Queued> = []
        var timer: Scheduled<Void>?
    }

    /// Counts arrivals, whatever their fate.
    private var held = HoldQueue<Held>()
    private var timed: [UInt64: Timed] = [:]
    /// By rule name, so a rule kept across a plan change keeps its bucket and queue.
    private var limiters: [String: Limiter] = [:]
    private var nextID: UInt64 = 0
    private var inFlight = 0
    /// Set by `flush()`: from then on nothing waits, everything is sent at once.
    private var flushing = false
    private var whenIdle: (() -> Void)?
    /// The proxy's running total for this direction.
    private let forwarded: ForwardedBytes.Count?

    init(
        plan: LivePlan,
        session: UInt64,
        client: String? = nil,
        direction: Event.Direction,
        eventLoop: any EventLoop,
        proxyStart: NIODeadline? = nil,
        sessionOpen: NIODeadline? = nil,
        events: any EventSink,
        proxyName: String,
        forwarded: ForwardedBytes.Count? = nil,
        send: @escaping Send
    ) {
        self.forwarded = forwarded
        self.plan = plan
        self.faults = ConnectionFaults(plan.current, ordinal: session, client: client)
        self.session = session
        self.direction = direction
        self.eventLoop = eventLoop
        let now = eventLoop.now
        self.proxyStart = proxyStart ?? now
        self.sessionOpen = sessionOpen ?? now
        self.events = events
        self.proxyName = proxyName
        self.send = send
    }

    /// Nothing held, delayed, queued or in flight.
    var isIdle: Bool {
        self.held.isEmpty && self.timed.isEmpty && self.inFlight == 0
            && self.limiters.values.allSatisfy { $0.queue.isEmpty }
    }

    /// Datagrams this stage holds back now (reorder, delay, gaps, rate queues).
    var waiting: Int {
        self.held.count + self.timed.count + self.limiters.values.reduce(0) { $0 + $1.queue.count }
    }

    // MARK: Arrivals

    /// One datagram read from the socket.
    func receive(_ buffer: ByteBuffer) {
        // The session table tells every stage of a plan change (`planChanged`); a
        // datagram can arrive first, and what it lets go of below (a reorder's hold)
        // must already be free of the rules the change ended.
        self.planChanged()
        self.counters.datagramsIn += 1
        self.counters.bytesIn += buffer.readableBytes
        let ordinal = self.next
        self.next += 1
        // Every hold so far counts this arrival; those whose count is up go on right
        // after it, so "after the next N" holds.
        self.held.pass()
        var due: [HoldQueue<Held>.Entry] = []
        while let entry = self.held.takeDue() { due.append(entry) }
        defer {
            due.forEach { self.release($0, reason: "count") }
            self.checkIdle()
        }
        let disposition = self.decide(ordinal)
        self.onArrival?(ordinal, buffer, disposition.drop != nil)
        if disposition.isUntouched {
            self.write(buffer)
            return
        }
        if let drop = disposition.drop {
            self.countDropped(buffer)
            self.record(drop, ordinal: ordinal, bytes: buffer.readableBytes)
            return
        }
        var buffer = buffer
        if let corrupt = disposition.corrupt, buffer.readableBytes > 0 {
            let bits = DatagramCorruptFault.bits(in: buffer.readableBytes, rate: corrupt.rate, entropy: corrupt.entropy)
            buffer = Self.flipping(bits, in: buffer)
            self.record(corrupt.decision, ordinal: ordinal, bytes: buffer.readableBytes, params: ["bits": "\(bits.count)"])
        }
        if disposition.hold != nil, !self.flushing {
            self.hold(buffer, ordinal: ordinal, disposition: disposition)
            return
        }
        self.afterHold(buffer, ordinal: ordinal, disposition: disposition)
    }

    /// The rules' decisions for datagram `ordinal`, under the plan in force now.
    private func decide(_ ordinal: UInt64) -> Disposition {
        guard !self.faults.isInert else { return Disposition() }
        let now = self.eventLoop.now
        return Disposition(
            self.faults.decideMessage(
                direction: self.direction,
                facts: MessageFacts(ordinal: ordinal),
                sinceProxyStart: .nanoseconds((now - self.proxyStart).nanoseconds),
                sinceOpen: .nanoseconds((now - self.sessionOpen).nanoseconds),
                chains: &self.chains
            )
        )
    }

    private func hold(_ buffer: ByteBuffer, ordinal: UInt64, disposition: Disposition) {
        guard let hold = disposition.hold else { return }
        self.record(hold.decision, ordinal: ordinal, bytes: buffer.readableBytes, params: ["delay": DurationText.format(hold.delay)])
        self.held.hold(after: hold.after) { id in
            let timer = self.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(hold.delay.nanoseconds)) {
                if let entry = self.held.take(id: id) { self.release(entry, reason: "delay") }
                self.checkIdle()
            }
            return Held(ordinal: ordinal, buffer: buffer.compacted(), disposition: disposition, heldAt: self.eventLoop.now, timer: timer)
        }
    }

    private func release(_ entry: HoldQueue<Held>.Entry, reason: String) {
        let held = entry.item
        held.timer.cancel()
        let heldFor = Duration.nanoseconds(max(0, self.eventLoop.now.uptimeNanoseconds - held.heldAt.uptimeNanoseconds))
        if let hold = held.disposition.hold {
            self.record(
                hold.decision,
                action: "released",
                ordinal: held.ordinal,
                bytes: held.buffer.readableBytes,
                params: ["after_datagrams": "\(entry.passed)", "held_for": DurationText.format(heldFor), "reason": reason]
            )
        }
        self.afterHold(held.buffer, ordinal: held.ordinal, disposition: held.disposition)
    }

    private func afterHold(_ buffer: ByteBuffer, ordinal: UInt64, disposition: Disposition) {
        guard let delay = disposition.delay, delay.amount > .zero, !self.flushing else {
            self.transmit(buffer, ordinal: ordinal, disposition: disposition)
            return
        }
        self.record(delay.decision, ordinal: ordinal, bytes: buffer.readableBytes)
        self.later(
            delay.amount,
            .delayed(buffer: buffer.compacted(), ordinal: ordinal, disposition: disposition, decision: delay.decision, since: self.eventLoop.now)
        )
    }

    /// The original, then its copies (at once, or `k × gap` later).
    private func transmit(_ buffer: ByteBuffer, ordinal: UInt64, disposition: Disposition) {
        self.emit(buffer, ordinal: ordinal, rate: disposition.rate)
        guard let duplicate = disposition.duplicate else { return }
        self.record(duplicate.decision, ordinal: ordinal, bytes: buffer.readableBytes)
        self.counters.datagramsDuplicated += duplicate.copies
        self.counters.bytesDuplicated += duplicate.copies * buffer.readableBytes
        for copy in 1...duplicate.copies {
            if duplicate.gap > .zero && !self.flushing {
                self.later(duplicate.gap * copy, .copy(buffer: buffer.compacted(), ordinal: ordinal, rate: disposition.rate))
            } else {
                self.emit(buffer, ordinal: ordinal, rate: disposition.rate)
            }
        }
    }

    // MARK: Rate

    /// Passes `buffer` through its rate rule, if any, then to the socket.
    private func emit(_ buffer: ByteBuffer, ordinal: UInt64, rate: (decision: FaultDecision, limit: DatagramRate)?) {
        guard let rate, !self.flushing else {
            self.write(buffer)
            return
        }
        let name = rate.decision.rule
        var limiter = self.limiters[name] ?? Limiter(bucket: DatagramTokenBucket(rate.limit))
        if limiter.bucket.rate != rate.limit {
            // The rule changed with the plan: its new limit, the queue kept.
            limiter.bucket = DatagramTokenBucket(rate.limit)
        }
        defer { self.limiters[name] = limiter }
        let now = self.eventLoop.now.uptimeNanoseconds
        if limiter.queue.isEmpty && limiter.bucket.take(bytes: buffer.readableBytes, now: now) {
            self.write(buffer)
            return
        }
        if rate.limit.excess == .queue && limiter.queue.count < rate.limit.queueLimit {
            limiter.queue.append(Queued(buffer: buffer.compacted(), ordinal: ordinal, decision: rate.decision, since: self.eventLoop.now))
            self.record(
                rate.decision,
                action: "queue",
                ordinal: ordinal,
                bytes: buffer.readableBytes,
                params: ["queue_depth": "\(limiter.queue.count)"]
            )
            if limiter.timer == nil {
                limiter.timer = self.scheduleDrain(rule: name, wait: limiter.bucket.wait(bytes: limiter.queue.first?.buffer.readableBytes ?? 0))
            }
        } else {
            self.countDropped(buffer)
            self.record(rate.decision, action: "drop", ordinal: ordinal, bytes: buffer.readableBytes)
        }
    }

    private func scheduleDrain(rule: String, wait: UInt64) -> Scheduled<Void> {
        self.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(clamping: max(wait, 1)))) {
            self.drain(rule: rule)
        }
    }

    private func drain(rule: String) {
        guard var limiter = self.limiters[rule] else { return }
        limiter.timer = nil
        let now = self.eventLoop.now.uptimeNanoseconds
        var ready: [ByteBuffer] = []
        while let head = limiter.queue.first, limiter.bucket.take(bytes: head.buffer.readableBytes, now: now) {
            ready.append(limiter.queue.removeFirst().buffer)
        }
        if let head = limiter.queue.first {
            limiter.timer = self.scheduleDrain(rule: rule, wait: limiter.bucket.wait(bytes: head.buffer.readableBytes))
        }
        self.limiters[rule] = limiter
        ready.forEach(self.write)
        self.checkIdle()
    }

    // MARK: Sending

    private func write(_ buffer: ByteBuffer) {
        let bytes = buffer.readableBytes
        guard let sent = self.send(buffer) else {
            self.counters.datagramsDropped += 1
            self.counters.bytesDropped += bytes
            return
        }
        self.inFlight += 1
        sent.assumeIsolated().whenComplete { result in
            self.inFlight -= 1
            switch result {
            case .success:
                self.counters.datagramsOut += 1
                self.counters.bytesOut += bytes
                self.forwarded?.add(bytes)
            case .failure:
                self.counters.datagramsDropped += 1
                self.counters.bytesDropped += bytes
            }
            self.checkIdle()
        }
    }

    private func countDropped(_ buffer: ByteBuffer) {
        self.counters.datagramsDropped += 1
        self.counters.bytesDropped += buffer.readableBytes
    }

    /// Does `work` after `delay` on the loop; `flush()` and a plan change that ends the
    /// rule holding it (`planChanged`) do it early.
    private func later(_ delay: Duration, _ work: Work) {
        let id = self.makeID()
        let due = self.eventLoop.now + .nanoseconds(delay.nanoseconds)
        let timer = self.eventLoop.assumeIsolated().scheduleTask(deadline: due) {
            guard let entry = self.timed.removeValue(forKey: id) else { return }
            self.run(entry.work)
            self.checkIdle()
        }
        self.timed[id] = Timed(due: due, work: work, timer: timer)
    }

    private func run(_ work: Work) {
        switch work {
        case .delayed(let buffer, let ordinal, let disposition, _, _):
            self.transmit(buffer, ordinal: ordinal, disposition: disposition)
        case .copy(let buffer, let ordinal, let rate):
            self.emit(buffer, ordinal: ordinal, rate: rate)
        }
    }

    // MARK: Plan changes

    /// Puts the plan now in force into effect at once, not only for the next datagram,
    /// and lets go of what a rule it removed or changed (`RuleChange.ended`) holds, as
    /// TCP's pacing stage does:
    ///
    ///     before:  [3: delay 60s]@t+60 [4: delay 60s]@t+60     the delay's rule removed at t+1
    ///     after:   3 4 sent at t+1, in the order they were due
    ///
    /// - what an ended `rate` rule queues is sent at once, in its queue's order;
    /// - a datagram an ended `delay` rule holds is sent at once, datagrams due earlier
    ///   first (then in the order they were delayed), on through what else its
    ///   disposition does (copies, a rate kept);
    /// - what an ended rule was still to do to a datagram held or delayed (a delay after
    ///   a reorder's hold, copies, a rate) it no longer does.
    ///
    /// Each datagram let go of is logged as a `released` fault event repeating its
    /// `delay` or `queue` event, with `reason: plan_change` and `held_for` (the
    /// `delay` event no longer says how long it waited). Rules kept as they were keep
    /// holding what they hold; a reorder's hold ends as it said (TCP's does too).
    func planChanged() {
        guard self.plan.number != self.faults.version else { return }
        let change = self.faults.adopt(self.plan.current)
        guard !self.flushing else { return }
        let ended = Set(change.rules(in: change.ended).map(\.name))
        guard !ended.isEmpty else { return }
        let now = self.eventLoop.now

        self.held.updateEach { $0.disposition.forget(ended, delay: true) }

        // Rate queues first: what they hold is past the delays already.
        var queued: [Queued] = []
        for name in self.limiters.keys.sorted() where ended.contains(name) {
            guard let limiter = self.limiters.removeValue(forKey: name) else { continue }
            limiter.timer?.cancel()
            queued.append(contentsOf: limiter.queue)
        }

        var delayed: [(due: NIODeadline, id: UInt64, work: Work)] = []
        for (id, var entry) in self.timed {
            switch entry.work {
            case .delayed(let buffer, let ordinal, var disposition, let decision, let since):
                disposition.forget(ended, delay: false)
                if ended.contains(decision.rule) {
                    entry.timer?.cancel()
                    self.timed[id] = nil
                    delayed.append((entry.due, id, .delayed(buffer: buffer, ordinal: ordinal, disposition: disposition, decision: decision, since: since)))
                } else {
                    entry.work = .delayed(buffer: buffer, ordinal: ordinal, disposition: disposition, decision: decision, since: since)
                    self.timed[id] = entry
                }
            case .copy(let buffer, let ordinal, let rate):
                if let rate, ended.contains(rate.decision.rule) {
                    entry.work = .copy(buffer: buffer, ordinal: ordinal, rate: nil)
                    self.timed[id] = entry
                }
            }
        }
        delayed.sort { ($0.due, $0.id) < ($1.due, $1.id) }

        for item in queued {
            self.recordReleased(item.decision, bytes: item.buffer.readableBytes, since: item.since, now: now)
            self.write(item.buffer)
        }
        for item in delayed {
            guard case .delayed(let buffer, _, _, let decision, let since) = item.work else { continue }
            self.recordReleased(decision, bytes: buffer.readableBytes, since: since, now: now)
            self.run(item.work)
        }
        self.checkIdle()
    }

    /// Logs that a plan change let go of a datagram `decision` held since `since`.
    private func recordReleased(_ decision: FaultDecision, bytes: Int, since: NIODeadline, now: NIODeadline) {
        let heldFor = Duration.nanoseconds(max(0, now.uptimeNanoseconds - since.uptimeNanoseconds))
        self.record(
            decision,
            action: "released",
            ordinal: decision.unit ?? 0,
            bytes: bytes,
            params: ["reason": "plan_change", "held_for": DurationText.format(heldFor)]
        )
    }

    // MARK: Closing

    /// Sends everything still held, delayed or queued, at once and in the order it
    /// would have left, and stops waiting from now on. Calls `whenIdle` once the last
    /// write completed (at once if none is in flight).
    func flush(whenIdle: @escaping () -> Void) {
        self.flushing = true
        for entry in self.held.takeAll() {
            self.release(entry, reason: "close")
        }
        // By due time, then by when it was scheduled (ids grow), as the timers would.
        let timed = self.timed.sorted { ($0.value.due, $0.key) < ($1.value.due, $1.key) }.map(\.value)
        self.timed = [:]
        for entry in timed {
            entry.timer?.cancel()
            self.run(entry.work)
        }
        let limiters = self.limiters
        self.limiters = [:]
        for (_, limiter) in limiters.sorted(by: { $0.key < $1.key }) {
            limiter.timer?.cancel()
            limiter.queue.forEach { self.write($0.buffer) }
        }
        self.whenIdle = whenIdle
        self.checkIdle()
    }

    /// Discards everything still held, delayed or queued, counting each datagram as
    /// dropped (a copy still to come too, its duplicate already counted), and stops
    /// waiting from now on: the proxy is closing the session itself (shutdown; `serve`
    /// deleting or disabling the proxy), as TCP's pacing stage discards what it holds
    /// then. Calls `whenIdle` once the writes already under way completed (at once if
    /// none is).
    func discard(whenIdle: @escaping () -> Void) {
        self.flushing = true
        for entry in self.held.takeAll() {
            entry.item.timer.cancel()
            self.countDropped(entry.item.buffer)
        }
        let timed = self.timed
        self.timed = [:]
        for entry in timed.values {
            entry.timer?.cancel()
            switch entry.work {
            case .delayed(let buffer, _, _, _, _), .copy(let buffer, _, _): self.countDropped(buffer)
            }
        }
        let limiters = self.limiters
        self.limiters = [:]
        for limiter in limiters.values {
            limiter.timer?.cancel()
            limiter.queue.forEach { self.countDropped($0.buffer) }
        }
        self.whenIdle = whenIdle
        self.checkIdle()
    }

    /// Calls `action` once nothing is held, delayed, queued or in flight any more,
    /// without hurrying anything; at once if nothing is now. Replaces an earlier one.
    func whenIdle(_ action: @escaping () -> Void) {
        self.whenIdle = action
        self.checkIdle()
    }

    private func checkIdle() {
        guard self.whenIdle != nil, self.isIdle, let whenIdle = self.whenIdle else { return }
        self.whenIdle = nil
        whenIdle()
    }

    // MARK: Helpers

    private func makeID() -> UInt64 {
        defer { self.nextID += 1 }
        return self.nextID
    }

    /// Logs a decision carried out as a `fault` event: `action` when the stage's word
    /// is not the decision's own (`released`, and what a rate's bucket did).
    private func record(
        _ decision: FaultDecision,
        action: String? = nil,
        ordinal: UInt64,
        bytes: Int,
        params: [String: String] = [:]
    ) {
        var event = decision.event(proxy: self.proxyName, connection: self.session, mono: self.eventLoop.now.uptimeNanoseconds)
        if let action { event.action = action }
        event.params = decision.params.merging(params) { $1 }
        event.bytes = bytes
        self.events.record(event)
    }

    /// A copy of `buffer` with the given bits flipped (bit 0 = most significant bit of
    /// the first readable byte).
    static func flipping(_ bits: [Int], in buffer: ByteBuffer) -> ByteBuffer {
        var copy = buffer.compacted()
        let start = copy.readerIndex
        for bit in bits where bit / 8 < copy.readableBytes {
            let index = start + bit / 8
            if let byte = copy.getInteger(at: index, as: UInt8.self) {
                copy.setInteger(byte ^ (0x80 >> UInt8(bit % 8)), at: index)
            }
        }
        return copy
    }
}

@available(*, unavailable)
extension DatagramFaultStage: Sendable {}
