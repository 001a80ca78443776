import FaultlineCore
import NIOCore

/// Holds one direction's writes until their release time, on the channel they are
/// written to: delay, bandwidth and slice are carried out here.
///
///     source ─▶ FaultStage(d) decides ─▶ Bridge ═▶ PacingStage(d) holds ─▶ destination
///
/// Holding on the destination side, not the source, matters: a source that sends its
/// last bytes and closes is torn down at once (NIO removes its handlers), while the
/// destination stays open until its end of stream, which this stage keeps behind the
/// data ahead of it. One queue, release times that never go backwards: order is kept.
///
///     writes:  [a]@t+200 [b]           (b decided with slice 1 byte, 10ms)
///     out:     ────────a─b₁─b₂─b₃ close(output)
///
/// A plan change that removes or changes a rule holding writes here lets go of what
/// it holds, in order (`planChanged`).
///
/// Backpressure: the connection asks the source's `FaultStage` to stop reading while
/// what waits here holds more than `FaultStage.highWater` bytes of memory (`heldCost`:
/// the buffers' storage and a per-entry overhead, not only the bytes still to send).
/// A paced write waits whole and is cut into its pieces as they fall due, so a write
/// sliced one byte at a time costs one entry, not one per byte.
package final class PacingStage: ChannelOutboundHandler {
    package typealias OutboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    /// How a write is to be paced, handed over by the source stage for the one
    /// synchronous call in which the bridge writes that unit here
    /// (`FaultConnection.paced`).
    struct Pace {
        var ready: NIODeadline
        var bytesPerSecond: Int?
        var slice: ChunkDecision.Slice?
        /// What holds it, so a plan change can let go of it (`Hold`).
        var hold: Hold

        init(
            ready: NIODeadline,
            bytesPerSecond: Int? = nil,
            slice: ChunkDecision.Slice? = nil,
            hold: Hold? = nil
        ) {
            self.ready = ready
            self.bytesPerSecond = bytesPerSecond
            self.slice = slice
            self.hold = hold ?? Hold(since: ready)
        }

        /// Both paces at once: the later release, the lower rate, the first slice, and
        /// every rule that holds either.
        func merged(with other: Pace) -> Pace {
            Pace(
                ready: max(self.ready, other.ready),
                bytesPerSecond: [self.bytesPerSecond, other.bytesPerSecond].compactMap { $0 }.min(),
                slice: self.slice ?? other.slice,
                hold: self.hold.merged(with: other.hold)
            )
        }

        /// The rules holding it renumbered after a plan change (a pace a hang kept
        /// while the plan changed).
        func renumbered(by change: RuleChange) -> Pace {
            var pace = self
            pace.hold.delayRules = change.remap(pace.hold.delayRules)
            pace.hold.paceRules = change.remap(pace.hold.paceRules)
            return pace
        }
    }

    /// Why a write waits, beyond its place in the queue: the rules that hold it
    /// (`ConnectionFaults.ruleBit`, numbered as the plan in force arms them), when and
    /// as which unit it was decided, and its recorded decisions (the delays among them
    /// are what a `released` event repeats). When a plan change ends one of its rules,
    /// what that rule did to it ends too (`planChanged`).
    struct Hold {
        var since: NIODeadline
        var unit: UInt64?
        var delayRules: UInt64 = 0
        var paceRules: UInt64 = 0
        /// The decisions recorded for it (empty when nothing records events): shared
        /// with the decision, never copied per write.
        var decisions: [FaultDecision] = []

        func merged(with other: Hold) -> Hold {
            Hold(
                since: min(self.since, other.since),
                unit: self.unit ?? other.unit,
                delayRules: self.delayRules | other.delayRules,
                paceRules: self.paceRules | other.paceRules,
                decisions: other.decisions.isEmpty ? self.decisions : self.decisions + other.decisions
            )
        }
    }

    /// How the bytes of one held write leave: in pieces of `pieceSize`, each `spacing`
    /// after the one before. Nil for a write that leaves whole at its release time.
    struct Cadence: Equatable {
        var pieceSize: Int
        var bytesPerSecond: Int?
        var gap: TimeAmount
        /// A slice with a size variation: draws each piece's size in turn
        /// (`ChunkDecision.Slice.nextPieceSize`); nil when every piece is `pieceSize`.
        var sizes: ChunkDecision.Slice?

        /// Nil when the pace neither slices nor throttles.
        init?(_ pace: Pace) {
            guard pace.slice != nil || pace.bytesPerSecond != nil else { return nil }
            var pieceSize = Int.max
            if let slice = pace.slice { pieceSize = min(pieceSize, max(1, slice.bytes)) }
            // Throttled data leaves in pieces worth about 20ms each, so the rate is smooth.
            if let rate = pace.bytesPerSecond { pieceSize = min(pieceSize, max(1, rate / 50)) }
            self.pieceSize = pieceSize
            self.bytesPerSecond = pace.bytesPerSecond
            self.gap = pace.slice.map { .nanoseconds($0.gap.nanoseconds) } ?? .zero
            self.sizes = pace.slice.flatMap { $0.variation > 0 ? $0 : nil }
        }

        /// The size of the next piece to cut (drawn, with a size variation).
        mutating func nextPieceSize() -> Int {
            guard var sizes = self.sizes else { return self.pieceSize }
            defer { self.sizes = sizes }
            return min(sizes.nextPieceSize(), self.bytesPerSecond.map { max(1, $0 / 50) } ?? .max)
        }

        /// The time between a piece of `bytes` and the next.
        func spacing(after bytes: Int) -> TimeAmount {
            var spacing = TimeAmount.zero
            if let rate = self.bytesPerSecond, rate > 0 {
                // Exact in 128 bits, then saturated: a piece can be as big as a write.
                let nanoseconds = Int128(bytes) * 1_000_000_000 / Int128(rate)
                spacing = .nanoseconds(Int64(clamping: nanoseconds))
            }
            return max(spacing, self.gap)
        }

        /// The time from the first piece of `bytes` to the release time of whatever
        /// follows them.
        func duration(of bytes: Int) -> TimeAmount {
            guard bytes > 0 else { return self.spacing(after: 0) }
            if self.sizes != nil {
                // Drawn sizes: the same draws the pieces will get, in order.
                var cadence = self
                var left = bytes
                var total = TimeAmount.zero
                while left > 0 {
                    let piece = min(left, cadence.nextPieceSize())
                    total = total.adding(self.spacing(after: piece))
                    left -= piece
                }
                return total
            }
            let whole = bytes / self.pieceSize
            let rest = bytes % self.pieceSize
            // Saturating: a long gap times the pieces of a big write passes Int64 (a 40h
            // gap between the bytes of 400 KB).
            var total = self.spacing(after: self.pieceSize).times(whole)
            if rest > 0 { total = total.adding(self.spacing(after: rest)) }
            return total
        }
    }

    /// One thing waiting to leave, at `at`. A paced write is held whole and cut into
    /// pieces as they fall due, never in advance: a megabyte sliced one byte at a time
    /// is one entry, not a million.
    private enum Entry {
        case data(ByteBuffer, Cadence?)
        case close(CloseMode, EventLoopPromise<Void>?)
        case run(() -> Void)
    }

    /// What an entry costs beyond its buffer's storage: its slot in the queue and the
    /// storage's own header and allocation. An estimate on the safe side, so many tiny
    /// writes count for what they really hold, not for their few bytes.
    static let entryOverhead = MemoryLayout<Queued>.stride + 64

    /// Held bytes up to which a new write with the same cadence, due right after the
    /// last one, joins it instead of being an entry of its own.
    static let joinLimit = 16 * 1024

    private let connection: FaultConnection
    package let direction: Event.Direction
    var next: Pace?
    /// What waits, each with its release time (`at`: the next piece's, for a write
    /// under way) and its own, before the queue's order (`ready`; `distantPast` for a
    /// write only queued behind others, a close, an action), and what holds it.
    private var queue = CircularBuffer<Queued>()

    private struct Queued {
        var entry: Entry
        var at: NIODeadline
        var ready: NIODeadline
        var hold: Hold?
    }
    /// When whatever is queued next may leave at the earliest: the release time of the
    /// last entry plus the time its pieces take.
    private var cursor = NIODeadline.distantPast
    /// Bytes waiting to leave: what the client's `WriteLedger` counts as ahead of an
    /// answer written in the server's place.
    private(set) var heldBytes = 0
    /// Memory the waiting entries hold: their buffers' storage (all of it, even where
    /// only part is still to leave) plus `entryOverhead` each. The measure the
    /// source's `FaultStage` pauses reading on (`FaultStage.highWater`).
    package private(set) var heldCost = 0
    /// The highest `heldCost` seen, for tests and diagnosis.
    package private(set) var peakHeldCost = 0
    /// Entries waiting.
    package var heldEntries: Int { self.queue.count }
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var context: ChannelHandlerContext?

    init(connection: FaultConnection, direction: Event.Direction) {
        self.connection = connection
        self.direction = direction
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        self.discard()
        self.context = nil
        self.connection.removed(self)
    }

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let pace = self.next
        self.next = nil
        guard pace != nil || !self.queue.isEmpty else {
            context.write(data, promise: promise)
            return
        }
        let buffer = PacingStage.unwrapOutboundIn(data)
        promise?.succeed()
        self.enqueue(buffer, pace: pace, now: context.eventLoop.now)
        self.pump(context: context)
    }

    package func flush(context: ChannelHandlerContext) {
        if self.queue.isEmpty {
            context.flush()
        }
    }

    package func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if self.queue.isEmpty {
            context.close(mode: mode, promise: promise)
        } else {
            self.append(.close(mode, promise), at: self.cursor)
        }
    }

    /// Runs `action` once everything queued before it has left (a sever after the data
    /// that preceded it).
    func after(_ action: @escaping () -> Void) {
        guard let context = self.context, !self.queue.isEmpty else {
            action()
            return
        }
        self.append(.run(action), at: self.cursor)
        self.pump(context: context)
    }

    /// Forgets what waits, counting its bytes as dropped.
    func discard() {
        for item in self.queue {
            switch item.entry {
            case .data(let buffer, _): self.connection.addDropped(buffer.readableBytes, self.direction, afterBridge: true)
            case .close(_, let promise): promise?.fail(ChannelError.ioOnClosedChannel)
            case .run: break
            }
        }
        self.queue.removeAll()
        self.heldBytes = 0
        self.heldCost = 0
        self.timer?.cancel()
        self.timer = nil
        self.timerDeadline = nil
    }

    /// A plan change ended some rules (`change.ended`): what they hold waits no longer.
    ///
    ///     before:  [a: delay 60s]@t+60 [b]@t+60 close@t+60      the delay's rule removed at t+1
    ///     after:   [a]@t+1 [b]@t+1 close@t+1                    (due now, in order)
    ///
    /// A write an ended delay holds is due now; one an ended rate or slice paces leaves
    /// whole, once what is ahead of it has left. A rule kept as it was keeps holding
    /// what it held. Release times are worked out again front to back, each no earlier
    /// than the end of the write before it and never later than it was, so order is
    /// kept. Each delay cut short, and each rate or slice cut short (once per rule,
    /// with the bytes it still held), is logged as a `released` fault event with
    /// `reason: plan_change` and `held_for`: the log's `delay` no longer says how long
    /// the bytes waited. The rest is renumbered for the plan now in force.
    func planChanged(_ change: RuleChange) {
        guard let context = self.context, !self.queue.isEmpty else { return }
        let now = context.eventLoop.now
        var end = NIODeadline.distantPast
        // Rates and slices cut short, per rule bit: bytes still held, since when, first unit.
        var paceCut: [(bit: UInt64, bytes: Int, since: NIODeadline, unit: UInt64?)] = []
        // Entries ahead of the first one let go of keep their times.
        var retiming = false
        for index in self.queue.indices {
            var item = self.queue[index]
            var cut = false
            if case .data(let buffer, var cadence) = item.entry, var hold = item.hold {
                if hold.delayRules & change.ended != 0, item.ready > now {
                    cut = true
                    item.ready = now
                    for decision in hold.decisions {
                        guard case .delay = decision.effect else { continue }
                        self.connection.recordReleased(
                            decision.event(proxy: self.connection.proxyName, connection: self.connection.ordinal, mono: now.uptimeNanoseconds),
                            bytes: buffer.readableBytes,
                            since: hold.since,
                            now: now
                        )
                    }
                    hold.delayRules = 0
                }
                if cadence != nil, hold.paceRules & change.ended != 0 {
                    cut = true
                    cadence = nil
                    var bits = hold.paceRules
                    while bits != 0 {
                        let bit = bits & (~bits &+ 1)
                        bits &= ~bit
                        if let known = paceCut.firstIndex(where: { $0.bit == bit }) {
                            paceCut[known].bytes += buffer.readableBytes
                        } else {
                            paceCut.append((bit, buffer.readableBytes, hold.since, hold.unit))
                        }
                    }
                    hold.paceRules = 0
                }
                hold.delayRules = change.remap(hold.delayRules)
                hold.paceRules = change.remap(hold.paceRules)
                item.hold = hold
                item.entry = .data(buffer, cadence)
            }
            retiming = retiming || cut
            if index == self.queue.startIndex {
                // The head may be under way (`at` is its next piece's time): it moves
                // only when something of its own ended.
                if cut { item.at = min(item.at, max(item.ready, now)) }
            } else if retiming {
                item.at = min(item.at, max(item.ready, end))
            }
            end = item.at
            if case .data(let buffer, let cadence?) = item.entry { end = end + cadence.duration(of: buffer.readableBytes) }
            self.queue[index] = item
        }
        self.cursor = end
        for cut in paceCut {
            for rule in change.rules(in: cut.bit) {
                var event = Event(.fault)
                event.proxy = self.connection.proxyName
                event.conn = self.connection.ordinal
                event.direction = self.direction
                event.unit = cut.unit
                event.rule = rule.name
                event.kind = rule.kind
                event.params = rule.params
                event.plan = rule.plan
                self.connection.recordReleased(event, bytes: cut.bytes, since: cut.since, now: now)
            }
        }
        self.armTimer(context: context)
    }

    // MARK: Queue

    /// Queues one write: whole, or as one paced entry whose pieces are cut as they fall
    /// due. A write due right after the last entry, with the same cadence, joins it
    /// when that changes no piece's size or time (`joinLimit`).
    private func enqueue(_ buffer: ByteBuffer, pace: Pace?, now: NIODeadline) {
        let ready = pace?.ready ?? now
        let at = max(ready, self.cursor)
        let cadence = pace.flatMap(Cadence.init)
        if let cadence, let pace, at == self.cursor, self.join(buffer, cadence: cadence, hold: pace.hold) {
            return
        }
        self.append(.data(Self.compacted(buffer), cadence), at: at, ready: pace == nil ? .distantPast : ready, hold: pace?.hold)
        self.cursor = at + (cadence?.duration(of: buffer.readableBytes) ?? .zero)
    }

    /// Adds `buffer` to the last entry when it is a paced write with the same cadence
    /// whose bytes to go are whole pieces: the pieces, and so the times, are the ones
    /// the two writes would have had apart. Only writes paced by the same rules and
    /// held by no delay join: a plan change lets go of an entry as one.
    private func join(_ buffer: ByteBuffer, cadence: Cadence, hold: Hold) -> Bool {
        guard let lastIndex = self.queue.indices.last,
            case .data(var last, let lastCadence) = self.queue[lastIndex].entry,
            let lastHold = self.queue[lastIndex].hold,
            hold.delayRules == 0, lastHold.delayRules == 0, hold.paceRules == lastHold.paceRules,
            lastCadence == cadence, cadence.sizes == nil,
            last.readableBytes > 0,
            last.readableBytes % cadence.pieceSize == 0,
            last.readableBytes + buffer.readableBytes <= Self.joinLimit
        else { return false }
        let before = last.storageCapacity
        self.queue[lastIndex].entry = .data(ByteBuffer(), nil)  // `last` is now the only reference
        last.writeImmutableBuffer(buffer)
        self.queue[lastIndex].entry = .data(last, cadence)
        self.heldBytes += buffer.readableBytes
        self.heldCost += last.storageCapacity - before
        self.peakHeldCost = max(self.peakHeldCost, self.heldCost)
        self.cursor = self.cursor + cadence.duration(of: buffer.readableBytes)
        return true
    }

    /// `buffer`, or a copy of it when it is a small slice of a much larger storage
    /// (a line cut from a 64 KiB read): holding it must not hold the rest.
    private static func compacted(_ buffer: ByteBuffer) -> ByteBuffer {
        guard buffer.storageCapacity > 2 * buffer.readableBytes + 1024 else { return buffer }
        var copy = ByteBufferAllocator().buffer(capacity: buffer.readableBytes)
        copy.writeImmutableBuffer(buffer)
        return copy
    }

    private static func cost(of entry: Entry) -> Int {
        if case .data(let buffer, _) = entry { return buffer.storageCapacity + Self.entryOverhead }
        return Self.entryOverhead
    }

    private func append(_ entry: Entry, at: NIODeadline, ready: NIODeadline = .distantPast, hold: Hold? = nil) {
        let at = max(at, self.cursor)
        self.cursor = at
        if case .data(let buffer, _) = entry { self.heldBytes += buffer.readableBytes }
        self.heldCost += Self.cost(of: entry)
        self.peakHeldCost = max(self.peakHeldCost, self.heldCost)
        self.queue.append(Queued(entry: entry, at: at, ready: ready, hold: hold))
    }

    /// Releases every piece and entry that is due, then sets the timer for the next.
    private func pump(context: ChannelHandlerContext) {
        let now = context.eventLoop.now
        while let head = self.queue.first, head.at <= now {
            if case .data(var buffer, var cadence?) = head.entry, case let size = cadence.nextPieceSize(), buffer.readableBytes > size {
                // One piece leaves; the rest waits for its time at the head.
                let piece = buffer.readSlice(length: size)!
                self.queue[self.queue.startIndex].entry = .data(buffer, cadence)
                self.queue[self.queue.startIndex].at = head.at + cadence.spacing(after: piece.readableBytes)
                self.heldBytes -= piece.readableBytes
                context.write(PacingStage.wrapOutboundOut(piece), promise: nil)
                context.flush()
                if self.context == nil { return }
                continue
            }
            self.queue.removeFirst()
            self.heldCost -= Self.cost(of: head.entry)
            switch head.entry {
            case .data(let buffer, _):
                self.heldBytes -= buffer.readableBytes
                context.write(PacingStage.wrapOutboundOut(buffer), promise: nil)
                context.flush()
            case .close(let mode, let promise):
                context.flush()
                context.close(mode: mode, promise: promise)
            case .run(let action):
                context.flush()
                action()
            }
            if self.context == nil { return }
        }
        self.armTimer(context: context)
        self.connection.pacingDrained(self.direction, held: self.heldCost)
    }

    private func armTimer(context: ChannelHandlerContext) {
        guard let next = self.queue.first?.at else {
            self.timer?.cancel()
            self.timer = nil
            self.timerDeadline = nil
            return
        }
        if let deadline = self.timerDeadline, deadline <= next, self.timer != nil { return }
        self.timer?.cancel()
        self.timerDeadline = next
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: next) { [self] in
            self.timer = nil
            self.timerDeadline = nil
            guard let context = self.context else { return }
            self.pump(context: context)
        }
    }
}

@available(*, unavailable)
extension PacingStage: Sendable {}
