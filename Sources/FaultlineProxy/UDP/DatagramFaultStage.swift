import FaultlineCore
import NIOCore

/// Applies one direction's datagram faults between the socket that read a datagram and
/// the socket that sends it on.
///
///     read ─▶ plan.decide ─┬─▶ dropped (loss)
///                          └─▶ corrupt ─▶ hold (reorder) ─▶ delay ─▶ original + copies ─▶ rate ─▶ send
///
/// Chance comes only from the plan (keyed by ordinals); time comes only from the event
/// loop (`now`, `scheduleTask`), so tests drive it on an `EmbeddedEventLoop`. Held,
/// delayed and queued datagrams are compact copies, so one held datagram never pins a
/// large receive buffer. `flush()` (on session close) sends everything still waiting at
/// once, so accounting balances: nothing is silently lost at the end.
///
/// Loop-bound: every call and callback runs on `eventLoop`.
final class DatagramFaultStage {
    /// Sends one datagram on; nil when it could not even be queued (socket full), which
    /// counts as dropped. The future completes when the socket took it.
    typealias Send = (ByteBuffer) -> EventLoopFuture<Void>?

    private let plan: DatagramFaultPlan
    private var track: DatagramFaultPlan.Track
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
        var id: UInt64
        var ordinal: UInt64
        var buffer: ByteBuffer
        var decision: DatagramDecision
        /// Later arrivals still to wait for; nil when only the delay releases it.
        var remaining: Int?
        var arrivalsSince = 0
        var heldAt: NIODeadline
        var timer: Scheduled<Void>?
    }

    /// Work waiting on the clock: a delayed datagram, a copy's gap.
    private struct Timed {
        var due: NIODeadline
        var run: () -> Void
        var timer: Scheduled<Void>?
    }

    /// A rate rule's bucket and queue.
    private struct Limiter {
        var bucket: DatagramTokenBucket
        var queue: CircularBuffer<(buffer: ByteBuffer, ordinal: UInt64)> = []
        var timer: Scheduled<Void>?
    }

    private var held: [Held] = []
    private var timed: [UInt64: Timed] = [:]
    private var limiters: [Int: Limiter] = [:]
    private var nextID: UInt64 = 0
    private var inFlight = 0
    /// Set by `flush()`: from then on nothing waits, everything is sent at once.
    private var flushing = false
    private var whenIdle: (() -> Void)?

    init(
        plan: DatagramFaultPlan,
        session: UInt64,
        client: String? = nil,
        direction: Event.Direction,
        eventLoop: any EventLoop,
        proxyStart: NIODeadline? = nil,
        sessionOpen: NIODeadline? = nil,
        events: any EventSink,
        proxyName: String,
        send: @escaping Send
    ) {
        self.plan = plan
        self.track = plan.track(session: session, direction: direction, client: client)
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
        self.counters.datagramsIn += 1
        self.counters.bytesIn += buffer.readableBytes
        let now = self.eventLoop.now
        let decision = self.plan.decide(
            bytes: buffer.readableBytes,
            track: &self.track,
            sinceProxyStart: .nanoseconds((now - self.proxyStart).nanoseconds),
            sinceSessionOpen: .nanoseconds((now - self.sessionOpen).nanoseconds)
        )
        defer { self.arrived(ordinal: decision.datagram) }
        self.onArrival?(decision.datagram, buffer, decision.drop != nil)
        if decision.isUntouched {
            self.write(buffer)
            return
        }
        if let rule = decision.drop {
            self.countDropped(buffer)
            self.record(rule: rule, action: "dropped", ordinal: decision.datagram, bytes: buffer.readableBytes)
            return
        }
        var buffer = buffer
        if let corrupt = decision.corrupt {
            buffer = Self.flipping(corrupt.value, in: buffer)
            self.record(
                rule: corrupt.rule,
                action: "corrupted",
                ordinal: decision.datagram,
                bytes: buffer.readableBytes,
                params: ["bits": "\(corrupt.value.count)"]
            )
        }
        if let hold = decision.hold, !self.flushing {
            self.hold(buffer, decision: decision, reorder: hold)
            return
        }
        self.afterHold(buffer, decision: decision)
    }

    /// Counts one arrival against every earlier hold, releasing those whose count is up.
    /// Runs after the arriving datagram went its way, so "after the next N" holds.
    private func arrived(ordinal: UInt64) {
        guard !self.held.isEmpty else { return }
        var released: [Held] = []
        var kept: [Held] = []
        for var entry in self.held {
            if entry.ordinal < ordinal {
                entry.arrivalsSince += 1
                if let remaining = entry.remaining, entry.arrivalsSince >= remaining {
                    released.append(entry)
                    continue
                }
            }
            kept.append(entry)
        }
        self.held = kept
        for entry in released {
            entry.timer?.cancel()
            self.release(entry, reason: "count")
        }
    }

    private func hold(_ buffer: ByteBuffer, decision: DatagramDecision, reorder: DatagramDecision.Effect<DatagramReorder>) {
        let id = self.makeID()
        let delay = reorder.value.effectiveDelay
        var params = ["delay": DurationText.format(delay)]
        if let after = reorder.value.after { params["after"] = "\(after)" }
        self.record(rule: reorder.rule, action: "held", ordinal: decision.datagram, bytes: buffer.readableBytes, params: params)
        let timer = self.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(delay.nanoseconds)) {
            self.releaseHeld(id: id, reason: "delay")
        }
        self.held.append(
            Held(
                id: id,
                ordinal: decision.datagram,
                buffer: Self.compact(buffer),
                decision: decision,
                remaining: reorder.value.after,
                heldAt: self.eventLoop.now,
                timer: timer
            )
        )
    }

    private func releaseHeld(id: UInt64, reason: String) {
        guard let index = self.held.firstIndex(where: { $0.id == id }) else { return }
        let entry = self.held.remove(at: index)
        self.release(entry, reason: reason)
    }

    private func release(_ entry: Held, reason: String) {
        let heldFor = Duration.nanoseconds(max(0, self.eventLoop.now.uptimeNanoseconds - entry.heldAt.uptimeNanoseconds))
        if let rule = entry.decision.hold?.rule {
            self.record(
                rule: rule,
                action: "released",
                ordinal: entry.ordinal,
                bytes: entry.buffer.readableBytes,
                params: ["after_datagrams": "\(entry.arrivalsSince)", "held_for": DurationText.format(heldFor), "reason": reason]
            )
        }
        self.afterHold(entry.buffer, decision: entry.decision)
    }

    private func afterHold(_ buffer: ByteBuffer, decision: DatagramDecision) {
        guard let delay = decision.delay, delay.value > .zero, !self.flushing else {
            self.transmit(buffer, decision: decision)
            return
        }
        self.record(
            rule: delay.rule,
            action: "delayed",
            ordinal: decision.datagram,
            bytes: buffer.readableBytes,
            params: ["delay": DurationText.format(delay.value)]
        )
        let compact = Self.compact(buffer)
        self.later(delay.value) { self.transmit(compact, decision: decision) }
    }

    /// The original, then its copies (at once, or `k × gap` later).
    private func transmit(_ buffer: ByteBuffer, decision: DatagramDecision) {
        self.emit(buffer, ordinal: decision.datagram, rate: decision.rate)
        guard let duplicate = decision.duplicate else { return }
        let copies = duplicate.value.copies
        var params = ["copies": "\(copies)"]
        if duplicate.value.gap > .zero { params["gap"] = DurationText.format(duplicate.value.gap) }
        self.record(
            rule: duplicate.rule,
            action: "duplicated",
            ordinal: decision.datagram,
            bytes: buffer.readableBytes,
            params: params
        )
        self.counters.datagramsDuplicated += copies
        self.counters.bytesDuplicated += copies * buffer.readableBytes
        for copy in 1...copies {
            if duplicate.value.gap > .zero && !self.flushing {
                let compact = Self.compact(buffer)
                self.later(duplicate.value.gap * copy) { self.emit(compact, ordinal: decision.datagram, rate: decision.rate) }
            } else {
                self.emit(buffer, ordinal: decision.datagram, rate: decision.rate)
            }
        }
    }

    // MARK: Rate

    /// Passes `buffer` through its rate rule, if any, then to the socket.
    private func emit(_ buffer: ByteBuffer, ordinal: UInt64, rate: DatagramDecision.Effect<DatagramRate>?) {
        guard let rate, !self.flushing else {
            self.write(buffer)
            return
        }
        var limiter = self.limiters[rate.rule] ?? Limiter(bucket: DatagramTokenBucket(rate.value))
        defer { self.limiters[rate.rule] = limiter }
        let now = self.eventLoop.now.uptimeNanoseconds
        if limiter.queue.isEmpty && limiter.bucket.take(bytes: buffer.readableBytes, now: now) {
            self.write(buffer)
            return
        }
        if rate.value.excess == .queue && limiter.queue.count < rate.value.queueLimit {
            limiter.queue.append((Self.compact(buffer), ordinal))
            self.record(
                rule: rate.rule,
                action: "queued",
                ordinal: ordinal,
                bytes: buffer.readableBytes,
                params: ["queue_depth": "\(limiter.queue.count)"]
            )
            if limiter.timer == nil {
                limiter.timer = self.scheduleDrain(rule: rate.rule, wait: limiter.bucket.wait(bytes: limiter.queue.first?.buffer.readableBytes ?? 0))
            }
        } else {
            self.countDropped(buffer)
            self.record(rule: rate.rule, action: "dropped", ordinal: ordinal, bytes: buffer.readableBytes)
        }
    }

    private func scheduleDrain(rule: Int, wait: UInt64) -> Scheduled<Void> {
        self.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(clamping: max(wait, 1)))) {
            self.drain(rule: rule)
        }
    }

    private func drain(rule: Int) {
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

    /// Runs `work` after `delay` on the loop; `flush()` runs it early.
    private func later(_ delay: Duration, _ work: @escaping () -> Void) {
        let id = self.makeID()
        let due = self.eventLoop.now + .nanoseconds(delay.nanoseconds)
        let timer = self.eventLoop.assumeIsolated().scheduleTask(deadline: due) {
            guard let entry = self.timed.removeValue(forKey: id) else { return }
            entry.run()
            self.checkIdle()
        }
        self.timed[id] = Timed(due: due, run: work, timer: timer)
    }

    // MARK: Closing

    /// Sends everything still held, delayed or queued, at once and in the order it
    /// would have left, and stops waiting from now on. Calls `whenIdle` once the last
    /// write completed (at once if none is in flight).
    func flush(whenIdle: @escaping () -> Void) {
        self.flushing = true
        let held = self.held
        self.held = []
        for entry in held {
            entry.timer?.cancel()
            self.release(entry, reason: "close")
        }
        // By due time, then by when it was scheduled (ids grow), as the timers would.
        let timed = self.timed.sorted { ($0.value.due, $0.key) < ($1.value.due, $1.key) }.map(\.value)
        self.timed = [:]
        for entry in timed {
            entry.timer?.cancel()
            entry.run()
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

    private func checkIdle() {
        guard self.isIdle, let whenIdle = self.whenIdle else { return }
        self.whenIdle = nil
        whenIdle()
    }

    // MARK: Helpers

    private func makeID() -> UInt64 {
        defer { self.nextID += 1 }
        return self.nextID
    }

    private func record(
        rule: Int,
        action: String,
        ordinal: UInt64,
        bytes: Int,
        params: [String: String]? = nil
    ) {
        let named = self.plan.rule(rule)
        var event = Event(.fault)
        event.proxy = self.proxyName
        event.conn = self.track.session
        event.direction = self.track.direction
        event.unit = ordinal
        event.rule = named.name
        event.kind = named.fault.kind
        event.action = action
        event.params = params
        event.bytes = bytes
        event.mono = self.eventLoop.now.uptimeNanoseconds
        self.events.record(event)
    }

    /// A copy that owns exactly its bytes.
    private static func compact(_ buffer: ByteBuffer) -> ByteBuffer {
        var copy = ByteBufferAllocator().buffer(capacity: buffer.readableBytes)
        copy.writeImmutableBuffer(buffer)
        return copy
    }

    /// A copy of `buffer` with the given bits flipped (bit 0 = most significant bit of
    /// the first readable byte).
    static func flipping(_ bits: [Int], in buffer: ByteBuffer) -> ByteBuffer {
        var copy = Self.compact(buffer)
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
