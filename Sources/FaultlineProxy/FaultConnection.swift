import FaultlineCore
import FaultlineFraming
import NIOCore

/// One proxied connection as the fault engine sees it: its decisions (`ConnectionFaults`),
/// its stages, what they discarded (`FaultTally`), the events it records, and its cutting
/// (`ConnectionCutter`).
///
/// Shared by the connection's stages (a `FaultStage` and a `PacingStage` per direction,
/// and with message rules a `MessageStage` per direction). Both channels of a connection
/// live on one event loop, so this is loop-bound and needs no locks. Time is read only
/// from the event loop (`now`, `scheduleTask`).
package final class FaultConnection {
    package let ordinal: UInt64
    let proxyName: String
    let events: any EventSink
    let proxyStart: NIODeadline
    let openedAt: NIODeadline
    var faults: ConnectionFaults

    /// The sockets' side: cuts, and the timers that cut later.
    let cutter: ConnectionCutter
    private var stages = PerDirection<FaultStage?>(nil)
    /// The message stages, told of plan changes as the fault stages are.
    var messageStages = PerDirection<MessageStage?>(nil)
    private var pacers = PerDirection<PacingStage?>(nil)
    /// Per direction (upstream, downstream): a message stage's pace for the unit it is
    /// forwarding at this moment (`carrying`).
    private var carried = PerDirection<PacingStage.Pace?>(nil)
    /// A reset or FIN cut the connection: stages discard what still comes.
    private(set) var severed = false
    /// When a cut ended both sides, and whether it reset them: `conn_close` says so
    /// (`first_close_mono`, `reason: reset`), the sockets' own ends coming later.
    private(set) var severedAt: NIODeadline?
    private(set) var severedByReset = false

    /// Framed connections with message rules: what both message stages share, given
    /// when the plan in force first has message rules (`ConnectionPipeline.installFaults`;
    /// see `FaultConnection+Messages.swift`).
    var messages: MessageSupport?
    /// What reaches the client's socket: told where answers written in the server's
    /// place are, so they are not counted as forwarded.
    let clientLedger: WriteLedger

    /// What the stages discarded and what faults added, for `conn_close`.
    package private(set) var tally = FaultTally()

    /// Copies of duplicated requests not yet settled: each is settled once its
    /// `duplicate_reply` is recorded (a reply, none, or never sent). `conn_close` waits
    /// for them (see `whenCopiesSettled`), so it counts every copy written and stays the
    /// connection's last event.
    var copiesUnsettled = 0
    /// What runs once no copy is unsettled (the connection's close).
    var onCopiesSettled: [() -> Void] = []
    /// Copies waiting for their `gap`, so a stop can end them at once.
    var dueCopies: [UInt64: DueCopy] = [:]
    var nextDueCopy: UInt64 = 0
    /// Why no more copies go: set by `stopCopies` (shutdown, or copies outlasting their
    /// connection by `copyLinger`).
    var copiesStopped: String?
    /// While `stopCopies` ends copies one by one, the close waits for the last.
    var stoppingCopies = false
    /// Ends the copies that outlast the connection's sockets by `copyLinger`.
    var copyLingerTimer: Scheduled<Void>?

    /// A copy due later (`gap`): its timer and what its event needs.
    struct DueCopy {
        var timer: Scheduled<Void>
        var copy: Int
        var request: FramedMessage
        var rule: String
    }

    /// Bytes the engine discarded, per direction (`FaultTally.dropped`).
    package var dropped: [Event.Direction: Int] {
        self.tally.dropped
    }

    /// The proxy's plan; checked before each decision so a change is never missed.
    let plan: LivePlan

    /// - Parameters:
    ///   - client: the accepted channel, known from the start: an answer in the
    ///     server's place may go out before the upstream is connected (see `sever` for
    ///     why reads can start early).
    ///   - clientLedger: what reaches the client's socket.
    package init(
        plan: LivePlan,
        ordinal: UInt64,
        client: any Channel,
        clientLedger: WriteLedger,
        proxyName: String,
        events: any EventSink,
        proxyStart: NIODeadline
    ) {
        self.ordinal = ordinal
        self.cutter = ConnectionCutter(client: client)
        self.clientLedger = clientLedger
        self.openedAt = client.eventLoop.now
        self.proxyName = proxyName
        self.events = events
        self.proxyStart = proxyStart
        self.plan = plan
        self.faults = ConnectionFaults(plan.current, ordinal: ordinal, client: client.remoteAddress?.hostPortText)
    }

    /// True when no rule can act on this connection: no stage is needed.
    package var isInert: Bool {
        self.faults.isInert
    }

    /// A stage for one direction, to sit just before the bridge on the channel that
    /// reads that direction's bytes (the client's channel for `upstream`).
    package func stage(for direction: Event.Direction) -> FaultStage {
        let stage = FaultStage(connection: self, direction: direction)
        self.stages[local: direction] = stage
        return stage
    }

    /// The pacing stage for one direction, to sit on the channel that writes that
    /// direction's bytes (the upstream's channel for `upstream`), between the bridge and
    /// the `WriteLedger` at the socket end.
    package func pacer(for direction: Event.Direction) -> PacingStage {
        let pacer = PacingStage(connection: self, direction: direction)
        self.pacers[local: direction] = pacer
        return pacer
    }

    /// A stage left its pipeline (its channel closed): the connection lets go of it.
    /// Stages and the connection hold each other; without this, every connection a
    /// rule touched stayed in memory after it closed (about 2.4 KiB each, the
    /// channels included).
    func removed(_ stage: FaultStage) {
        if self.stages[local: stage.direction] === stage { self.stages[local: stage.direction] = nil }
    }

    func removed(_ pacer: PacingStage) {
        if self.pacers[local: pacer.direction] === pacer { self.pacers[local: pacer.direction] = nil }
    }

    /// Runs `forward` with `pace` carried for the unit it forwards: the chunk stage that
    /// receives the unit within the call takes it (`takeCarried`). Whatever happens to
    /// the unit, the pace ends with the call and never reaches another write.
    func carrying(_ pace: PacingStage.Pace, _ direction: Event.Direction, _ forward: () -> Void) {
        self.carried[local: direction] = pace
        forward()
        self.carried[local: direction] = nil
    }

    /// The pace a message stage decided for the unit arriving now, taken once.
    func takeCarried(_ direction: Event.Direction) -> PacingStage.Pace? {
        guard let pace = self.carried[local: direction] else { return nil }
        self.carried[local: direction] = nil
        return pace
    }

    /// Writes a unit through `direction`'s pacing stage with `pace`: the bridge writes
    /// synchronously, so the pace is handed over for exactly this call and taken back
    /// after, whether or not a write happened (an unbridged or closed destination).
    func paced(_ direction: Event.Direction, _ pace: PacingStage.Pace, _ forward: () -> Void) {
        guard let pacer = self.pacers[local: direction] else {
            forward()
            return
        }
        pacer.next = pace
        forward()
        pacer.next = nil
    }

    /// Bytes waiting in `direction`'s pacing stage.
    func held(_ direction: Event.Direction) -> Int {
        self.pacers[local: direction]?.heldBytes ?? 0
    }

    /// Memory `direction`'s pacing stage holds (bytes, storage and per-write overhead):
    /// what backpressure counts.
    func heldCost(_ direction: Event.Direction) -> Int {
        self.pacers[local: direction]?.heldCost ?? 0
    }

    /// Runs `action` once `direction`'s held data has left (at once if none waits).
    func afterHeld(_ direction: Event.Direction, _ action: @escaping () -> Void) {
        if let pacer = self.pacers[local: direction] {
            pacer.after(action)
        } else {
            action()
        }
    }

    /// Called by a pacing stage after it released data.
    func pacingDrained(_ direction: Event.Direction, held: Int) {
        if held <= FaultStage.lowWater {
            self.stages[local: direction]?.resumeReading()
        }
    }

    /// Catches up with the plan in force when it changed since the last look.
    func refresh() {
        if self.plan.number != self.faults.version {
            self.adopt(self.plan.current)
        }
    }

    /// Puts a new plan in force on this open connection: rules are re-armed, timed
    /// severs re-scheduled, what a delay, bandwidth or slice rule no longer in the plan
    /// as it was still holds is let go of (`PacingStage.planChanged`), and a direction
    /// stopped by a rule the plan no longer has (blackhole, hang) flows again. A rule
    /// kept across the change keeps its timing from the connection's open; a new timed
    /// sever counts from the change.
    func adopt(_ version: LivePlan.Version) {
        guard version.number != self.faults.version else { return }
        let before = Set(self.faults.timedSevers.map(\.rule.name))
        let change = self.faults.adopt(version)
        // The pacers first: what they hold is renumbered before a stage adds to it
        // under the new plan's numbering (a hang's data passed on, say).
        for direction in Event.Direction.allCases {
            self.pacers[local: direction]?.planChanged(change)
        }
        for direction in Event.Direction.allCases {
            self.messageStages[local: direction]?.planChanged()
            self.stages[local: direction]?.planChanged(change)
        }
        if let client = self.cutter.client, self.cutter.isBridged {
            self.cutter.cancelTimers()
            self.armTimedSevers(on: client, keptFromOpen: before)
        }
    }

    func decide(direction: Event.Direction, bytes: Int, now: NIODeadline) -> ChunkDecision {
        self.refresh()
        let decision = self.faults.decide(
            direction: direction,
            bytes: bytes,
            sinceProxyStart: Self.duration(now - self.proxyStart),
            sinceOpen: Self.duration(now - self.openedAt),
            listing: self.events.isRecording
        )
        for fired in decision.fired {
            self.record(fired, now: now)
        }
        return decision
    }

    func record(_ decision: FaultDecision, now: NIODeadline) {
        guard self.events.isRecording else { return }  // no log: nothing to build
        self.events.record(decision.event(proxy: self.proxyName, connection: self.ordinal, mono: now.uptimeNanoseconds))
    }

    /// Records that a fault let go of bytes it held before their time (a plan change
    /// ended its rule): `event`, as the fault's own event said it, now as `released`,
    /// with `bytes` (what it still held), `reason` and `held_for` in `params`: the one
    /// word a reorder's hold already uses when it ends.
    func recordReleased(_ event: Event, bytes: Int, since: NIODeadline, now: NIODeadline, reason: String = "plan_change") {
        guard self.events.isRecording else { return }
        var event = event
        event.action = "released"
        event.bytes = bytes
        event.mono = now.uptimeNanoseconds
        var params = event.params ?? [:]
        params["reason"] = reason
        params["held_for"] = DurationText.format(Self.duration(now - since))
        event.params = params
        self.events.record(event)
    }

    func addDropped(_ bytes: Int, _ direction: Event.Direction, afterBridge: Bool = false) {
        self.tally.addDropped(bytes, direction, afterBridge: afterBridge)
    }

    func addDuplicated(_ bytes: Int, _ direction: Event.Direction) {
        self.tally.duplicated[direction, default: 0] += bytes
    }

    /// Called once both channels exist: arms the severs that happen after a time.
    func bridged(client: any Channel, upstream: any Channel) {
        self.cutter.bridged(client: client, upstream: upstream)
        self.armTimedSevers(on: client, keptFromOpen: nil)
    }

    /// The upstream's dial failed: cuts decided while it was dialled reach the client.
    func dialFailed() {
        self.cutter.dialFailed()
    }

    /// True when a rule of the plan in force answers requests in the server's place
    /// (`respond`) on this connection: it can be served without its upstream.
    func answersWithoutUpstream() -> Bool {
        self.refresh()
        return self.messages != nil && self.faults.plan.profile.rules.contains { $0.fault is RespondFault }
    }

    /// Schedules the plan's timed severs. `keptFromOpen`: after a plan change, the
    /// rules that were already armed (they keep counting from the open); the others
    /// count from now. Nil: every rule counts from the open.
    private func armTimedSevers(on client: any Channel, keptFromOpen: Set<String>?) {
        let now = client.eventLoop.now
        for (after, rule, decision) in self.faults.timedSevers {
            let origin = keptFromOpen.map { $0.contains(rule.name) ? self.openedAt : now } ?? self.openedAt
            let deadline = origin + .nanoseconds(after.nanoseconds)
            self.cutter.schedule(at: deadline) { [self] in
                let now = client.eventLoop.now
                // The rule's window and the schedule decide whether it may act now.
                guard !self.severed,
                    self.faults.plan.isActive(
                        rule,
                        sinceProxyStart: Self.duration(now - self.proxyStart),
                        sinceOpen: Self.duration(now - self.openedAt)
                    )
                else { return }
                self.record(decision, now: now)
                guard case .sever(let mode, _) = decision.effect else { return }
                if let direction = decision.direction {
                    self.sever(mode, direction: direction)
                } else {
                    // A rule covering both directions: a half-close ends both.
                    self.sever(mode, direction: .upstream)
                    if mode == .halfClose { self.sever(mode, direction: .downstream) }
                }
            }
        }
    }

    /// Cuts the connection. `reset` and `fin` end both sides: every stage stops and
    /// what the pacers hold is discarded; `halfClose` ends only `direction` (its
    /// destination reads EOF; the other way keeps flowing).
    func sever(_ mode: SeverMode, direction: Event.Direction) {
        switch mode {
        case .reset, .fin:
            if !self.severed {
                self.severedAt = self.cutter.client?.eventLoop.now
                self.severedByReset = mode == .reset
            }
            self.severed = true
            for side in Event.Direction.allCases { self.stages[local: side]?.stopForwarding(cut: true) }
            for side in Event.Direction.allCases { self.pacers[local: side]?.discard() }
        case .halfClose:
            self.stages[local: direction]?.stopForwarding(cut: false)
        }
        self.cutter.cut(mode, direction: direction)
    }

    /// Discards what both pacing stages hold, counting it as dropped: the proxy is
    /// closing the connection, and a close would otherwise wait behind held data (a
    /// pacing stage keeps closes in order with its writes).
    func discardHeld() {
        for side in Event.Direction.allCases { self.pacers[local: side]?.discard() }
    }

    /// Holds the connection, then closes it after `after` when given.
    func hang(close: SeverMode, after: Duration?, on loop: any EventLoop) {
        guard let after else { return }
        self.cutter.scheduleHang(in: after, on: loop) { [self] in
            self.sever(close, direction: .upstream)
        }
    }

    /// The hang's rule left the plan: its close no longer comes.
    func cancelHangs() {
        self.cutter.cancelHangs()
    }

    static func duration(_ amount: TimeAmount) -> Duration {
        .nanoseconds(max(0, amount.nanoseconds))
    }
}

@available(*, unavailable)
extension FaultConnection: Sendable {}

extension PerDirection {
    /// The value for `direction`, specialised in this module (see `PerDirection`): the
    /// stages look their peers up on every chunk.
    subscript(local direction: Event.Direction) -> Value {
        // A switch, not `==`: the enum's `==` is FaultlineCore's too.
        get {
            switch direction {
            case .upstream: self.upstream
            case .downstream: self.downstream
            }
        }
        set {
            switch direction {
            case .upstream: self.upstream = newValue
            case .downstream: self.downstream = newValue
            }
        }
    }
}
