import FaultlineCore
import NIOCore

/// Applies one direction's rules to the chunks read from a socket, before the bridge
/// forwards them.
///
///     client ─▶ WriteLedger ─▶ FaultStage(upstream)   ─▶ Bridge ═▶ PacingStage(upstream)   ─▶ upstream
///     server ─▶ WriteLedger ─▶ FaultStage(downstream) ─▶ Bridge ═▶ PacingStage(downstream) ─▶ client
///
/// Each chunk gets a `ChunkDecision` from the connection's `ConnectionFaults` and its
/// fault events are recorded. What is discarded is discarded here (blackhole, bytes
/// past a cut) and counted as dropped; what is held (delay, bandwidth, slice) is
/// handed to the destination's `PacingStage` with its release time. A hang stops
/// reading the socket altogether and keeps the chunk it fired on (and the rest of that
/// read): a plan change that removes its rule passes them on and reads again, so
/// nothing is lost; they count as dropped only if the connection closes first. Too
/// much held data also stops reading (backpressure).
///
/// On its way out, the stage also sees the end of stream the bridge passes on to this
/// channel (the other direction's: `close(mode: .output)`), and holds it while a
/// `slow_close` rule says so. Holding it here, on the destination, keeps it safe from
/// the source's teardown (the bridge passes a source's full close on as this FIN and a
/// close chained after it), and leaves data untouched:
///
///     client:  ──a──b──FIN·····························
///     server:  ──a──b─────────── delay ───────────FIN
package final class FaultStage: ChannelDuplexHandler {
    package typealias InboundIn = ByteBuffer
    package typealias InboundOut = ByteBuffer
    package typealias OutboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    /// Memory held in the pacing stage (`PacingStage.heldCost`) above which reading
    /// pauses, and below which it resumes.
    package static let highWater = 256 * 1024
    package static let lowWater = 64 * 1024

    private enum Mode {
        case flowing
        /// Everything from now on is discarded, end of stream and close included.
        case blackholed
        /// Nothing more is read or passed; the connection is held.
        case hanging
        /// The direction was half-closed: late bytes are discarded.
        case stopped
        /// The connection was cut (reset or FIN both ways) by the engine itself: late
        /// bytes are discarded and endings are not passed on, so the bridge does not
        /// turn our reset into a FIN on the other side.
        case cut
    }

    private let connection: FaultConnection
    package let direction: Event.Direction
    private var mode = Mode.flowing
    /// The rule that blackholed or hung this direction: when a plan change disarms it,
    /// the direction flows again.
    private var stoppedBy: String?
    /// What a hang stopped: the chunk it fired on (decided, with its pace) and any read
    /// after it (undecided, with a message stage's pace if it had one). When the hang's
    /// rule leaves the plan the first goes on and the rest are decided by the plan then
    /// in force; if the connection ends first, all are dropped.
    private var hung: [(buffer: ByteBuffer, pace: PacingStage.Pace?, decided: Bool)] = []
    private var pendingRead = false
    private var context: ChannelHandlerContext?
    /// The end of stream a `slow_close` rule holds (of the direction this channel
    /// writes), with the promises of the closes waiting for it.
    private var heldEnd: (rule: String, promises: [EventLoopPromise<Void>], timer: Scheduled<Void>)?
    /// The channel closed (its handlers are removed a little later): an end reaching
    /// it now is not held, and not recorded as held.
    private var isClosed = false

    init(connection: FaultConnection, direction: Event.Direction) {
        self.connection = connection
        self.direction = direction
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.connection.removed(self)
        // The channel closed while its end was held: the close has nothing more to do.
        if let held = self.heldEnd {
            self.heldEnd = nil
            held.timer.cancel()
            held.promises.forEach { $0.fail(ChannelError.alreadyClosed) }
        }
    }

    // MARK: Inbound

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A message stage's pace for this very unit; dropped with it if it goes no further.
        self.process(FaultStage.unwrapInboundIn(data), carried: self.connection.takeCarried(self.direction), context: context)
    }

    /// Decides one unit and does what the decision says: passes, paces, discards, hangs
    /// or cuts. A unit read while the direction hangs waits, undecided, for the hang to end.
    private func process(_ unit: ByteBuffer, carried: PacingStage.Pace?, context: ChannelHandlerContext) {
        var buffer = unit
        let bytes = buffer.readableBytes
        guard self.mode == .flowing else {
            if self.mode == .hanging {
                self.hung.append((buffer, carried, decided: false))
            } else {
                self.connection.addDropped(bytes, self.direction)
            }
            return
        }
        let now = context.eventLoop.now
        let decision = self.connection.decide(direction: self.direction, bytes: bytes, now: now)
        if decision.isPass && carried == nil {
            context.fireChannelRead(FaultStage.wrapInboundOut(buffer))
            return
        }
        // A message stage and this stage may both pace one unit: the later release, the
        // lower rate and the message's slice win.
        let own = PacingStage.Pace(
            ready: now + .nanoseconds(decision.delay.nanoseconds),
            bytesPerSecond: decision.bytesPerSecond,
            slice: decision.slice,
            hold: PacingStage.Hold(
                since: now,
                unit: decision.unit,
                delayRules: decision.delayRules,
                paceRules: decision.paceRules,
                decisions: decision.fired
            )
        )
        let pace = carried?.merged(with: own) ?? own
        switch decision.stop {
        case .none:
            self.forward(buffer, pace: pace, context: context)
        case .blackhole:
            self.mode = .blackholed
            self.stoppedBy = decision.fired.first { $0.effect == .blackhole }?.rule
            self.connection.addDropped(bytes, self.direction)
        case .hang(let close, let after):
            self.mode = .hanging
            self.stoppedBy = decision.fired.first { if case .hang = $0.effect { true } else { false } }?.rule
            self.hung.append((buffer, pace, decided: true))
            self.connection.hang(close: close, after: after, on: context.eventLoop)
        case .sever(let severMode, let passBytes):
            if passBytes > 0, let head = buffer.readSlice(length: min(passBytes, bytes)) {
                self.forward(head, pace: pace, context: context)
                context.fireChannelReadComplete()
            }
            self.connection.addDropped(buffer.readableBytes, self.direction)
            self.mode = .stopped
            let connection = self.connection
            let direction = self.direction
            self.connection.afterHeld(self.direction) {
                connection.sever(severMode, direction: direction)
            }
        }
    }

    private func forward(_ buffer: ByteBuffer, pace: PacingStage.Pace, context: ChannelHandlerContext) {
        self.connection.paced(self.direction, pace) {
            context.fireChannelRead(FaultStage.wrapInboundOut(buffer))
        }
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent, self.mode != .flowing {
            // A partition or a hang carries no FIN; a cut direction already ended. The
            // bridge still learns when this side ended, for `conn_close`: the client
            // that gave up on a blackholed request closed first, whatever came after.
            context.fireUserInboundEventTriggered(BridgeHandler.EndedUnforwarded())
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    package func channelInactive(context: ChannelHandlerContext) {
        self.isClosed = true
        self.dropHung()
        switch self.mode {
        case .blackholed, .hanging, .cut:
            // The far side is not told: in a partition nothing gets through, and a cut
            // connection is being closed by the engine already.
            return
        case .flowing, .stopped:
            context.fireChannelInactive()
        }
    }

    // MARK: Outbound

    /// The direction whose bytes this channel writes (the other one).
    private var written: Event.Direction {
        self.direction == .upstream ? .downstream : .upstream
    }

    /// An end of stream on its way to this channel's socket: held when a `slow_close`
    /// rule covering the written direction fires, and recorded as its `fault` event
    /// then. Passed at once, ending a hold if there is one: a cut of the whole
    /// connection (a sever's reset or FIN both ways, a hang's close) and any full close
    /// (`.all`: a reset passed on, an error, a proxy shutting down). A second FIN while
    /// one is held leaves with it. A channel already closed holds nothing; one still
    /// connecting does hold (a client that sends and ends at once has its data and FIN
    /// read before the dial completes, and its FIN would otherwise pass unheld).
    package func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if let held = self.heldEnd {
            if mode == .output, !self.connection.severed {
                // Another FIN (a half-close sever after the peer's): it leaves with the held one.
                if let promise { self.heldEnd?.promises.append(promise) }
                return
            }
            self.heldEnd = nil
            held.timer.cancel()
            let closed = promise ?? context.eventLoop.makePromise()
            held.promises.forEach { closed.futureResult.cascade(to: $0) }
            context.close(mode: mode, promise: closed)
            return
        }
        guard mode == .output, !self.connection.severed, !self.isClosed else {
            context.close(mode: mode, promise: promise)
            return
        }
        let now = context.eventLoop.now
        self.connection.refresh()
        guard
            let decision = self.connection.faults.decideEnd(
                direction: self.written,
                sinceProxyStart: FaultConnection.duration(now - self.connection.proxyStart),
                sinceOpen: FaultConnection.duration(now - self.connection.openedAt)
            ),
            case .holdClose(let delay) = decision.effect
        else {
            context.close(mode: mode, promise: promise)
            return
        }
        self.connection.record(decision, now: now)
        let timer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(delay.nanoseconds)) { [self] in
            self.releaseEnd()
        }
        self.heldEnd = (decision.rule, promise.map { [$0] } ?? [], timer)
    }

    /// Passes the held end of stream on (its delay passed, or its rule left the plan).
    private func releaseEnd() {
        guard let held = self.heldEnd else { return }
        self.heldEnd = nil
        held.timer.cancel()
        guard let context = self.context else {
            held.promises.forEach { $0.fail(ChannelError.alreadyClosed) }
            return
        }
        let closed = context.eventLoop.makePromise(of: Void.self)
        held.promises.forEach { closed.futureResult.cascade(to: $0) }
        context.close(mode: .output, promise: closed)
    }

    package func read(context: ChannelHandlerContext) {
        if self.mode == .hanging || self.connection.heldCost(self.direction) > Self.highWater {
            self.pendingRead = true
            return
        }
        context.read()
    }

    // MARK: Called by the connection

    /// The pacing stage drained below the low-water mark: read again if we held back.
    func resumeReading() {
        guard self.pendingRead, self.mode != .hanging, let context = self.context else { return }
        self.pendingRead = false
        context.read()
    }

    /// The plan changed: a blackhole or hang whose rule is gone ends, and the direction
    /// flows again (a hang's pending close is called off); an end of stream held by a
    /// `slow_close` whose rule is gone is passed on at once. The paces a hang keeps
    /// name their rules as the new plan numbers them (`change`).
    func planChanged(_ change: RuleChange) {
        for index in self.hung.indices {
            self.hung[index].pace = self.hung[index].pace?.renumbered(by: change)
        }
        if let held = self.heldEnd, !self.connection.faults.isArmed(held.rule) {
            self.releaseEnd()
        }
        guard self.mode == .blackholed || self.mode == .hanging, let rule = self.stoppedBy,
            !self.connection.faults.isArmed(rule)
        else { return }
        if self.mode == .hanging { self.connection.cancelHangs() }
        self.mode = .flowing
        self.stoppedBy = nil
        if !self.hung.isEmpty, let context = self.context {
            let hung = self.hung
            self.hung = []
            for (buffer, pace, decided) in hung {
                if decided, let pace {
                    self.forward(buffer, pace: pace, context: context)
                } else {
                    self.process(buffer, carried: pace, context: context)
                }
            }
            context.fireChannelReadComplete()
        }
        self.resumeReading()
    }

    /// The connection ended (or was cut) while a hang held data: it is dropped now.
    private func dropHung() {
        for (buffer, _, _) in self.hung { self.connection.addDropped(buffer.readableBytes, self.direction) }
        self.hung = []
    }

    /// Stops passing anything more in this direction: after a half-close of it
    /// (`cut: false`), or a reset or FIN of the whole connection (`cut: true`).
    func stopForwarding(cut: Bool) {
        self.dropHung()
        if cut {
            self.mode = .cut
        } else if self.mode == .flowing || self.mode == .hanging {
            // A hung direction half-closed stays closed when its rule later leaves.
            self.mode = .stopped
        }
    }
}

@available(*, unavailable)
extension FaultStage: Sendable {}
