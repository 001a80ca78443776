import FaultlineCore
import FaultlineFraming
import NIOCore

/// Applies message rules to one direction of a framed connection: whole requests or
/// replies are dropped, answered in the server's place, duplicated, held back, delayed
/// or cut at a point, as the profile says.
///
///     client ─▶ FramingHandler ─▶ MessageStage(upstream)   ─▶ UnframingHandler ─▶ … ─▶ Bridge ═▶ server
///     server ─▶ FramingHandler ─▶ MessageStage(downstream) ─▶ UnframingHandler ─▶ … ─▶ Bridge ═▶ client
///
/// Each message's decisions come from `ConnectionFaults.decideMessage`, keyed on its
/// unit (so the same seed and traffic give the same faults), and combine as
/// `MessageDisposition` says. Every decision carried out is logged as a `fault` event
/// naming the rule, the action and the unit; every byte discarded is counted as dropped,
/// so `conn_close` stays truthful.
///
/// Requests are matched on their own facts and their attempt number; replies on the
/// facts of the request they answer (the connection's `Exchange` pairs them). Delays and rates are
/// handed to the destination's `PacingStage` (order kept, as for chunks); a reordered
/// request is held here until enough later requests went on, or its time is up. Raw
/// units (after a framing fallback) pass untouched.
final class MessageStage: ChannelInboundHandler {
    typealias InboundIn = FramedMessage
    typealias InboundOut = FramedMessage

    /// A request held back by `reorder`.
    private struct Held {
        var message: FramedMessage
        var facts: MessageFacts
        var disposition: MessageDisposition
        var timer: Scheduled<Void>?
        var since: NIODeadline
        /// The reorder decision, logged again (`released`) when the request goes on.
        var decision: FaultDecision?
    }

    /// Why a held request went on.
    private enum Release: String {
        case after = "later requests went on"
        case delay = "its delay was up"
        case end = "the client stopped sending"
    }

    private let connection: FaultConnection
    private let support: MessageSupport
    let direction: Event.Direction
    /// Set once this direction discards everything (blackhole, hang, a cut decided here).
    private var discarding = false
    /// The blackhole or hang rule that set `discarding`: when a plan change disarms it,
    /// the direction flows again, as a chunk's blackhole or hang does (a cut stays cut).
    private var stoppedBy: (rule: String, hang: Bool)?
    /// Counts the requests that went on after each held one.
    private var held = HoldQueue<Held>()
    private var context: ChannelHandlerContext?

    init(connection: FaultConnection, support: MessageSupport, direction: Event.Direction) {
        self.connection = connection
        self.support = support
        self.direction = direction
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if self.connection.messageStages[local: self.direction] === self { self.connection.messageStages[local: self.direction] = nil }
        // Held requests that never went on were read from the client: dropped.
        for held in self.held.takeAll().map(\.item) {
            held.timer?.cancel()
            self.connection.addDropped(held.message.bytes.readableBytes, self.direction)
        }
        self.context = nil
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = MessageStage.unwrapInboundIn(data)
        if self.connection.severed || self.discarding {
            self.drop(message)
            return
        }
        guard let info = message.info else {
            // Framing fell back: pairing is over (held answers are due), raw bytes pass
            // as they come.
            context.fireChannelRead(data)
            self.connection.writeInjected(self.support.exchange.takeDue())
            return
        }
        switch self.direction {
        case .upstream: self.request(message, info: info, context: context)
        case .downstream: self.reply(message, info: info, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let began = event as? FramingHandler.MessageBegan, self.direction == .downstream {
            self.replyBegan(unit: began.unit, context: context)
        } else if case .inputClosed = event as? ChannelEvent, !self.held.isEmpty {
            // The client finished sending: nothing later will overtake what is held.
            self.releaseAll(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.held.isEmpty { self.releaseAll(context: context) }
        context.fireChannelInactive()
    }

    // MARK: Requests

    private func request(_ message: FramedMessage, info: MessageInfo, context: ChannelHandlerContext) {
        let now = context.eventLoop.now
        let facts = MessageFacts(
            ordinal: message.unit,
            method: info.method,
            path: info.path,
            headers: info.headers.map { ($0.name, $0.value) },
            command: info.command,
            attempt: info.attempt
        )
        let disposition = MessageDisposition(self.connection.decideMessage(direction: .upstream, facts: facts, now: now))
        self.record(disposition.taken, facts: facts, now: now)
        switch disposition.fate {
        case .forward:
            if let reorder = disposition.reorder {
                self.hold(message, facts: facts, disposition: disposition, after: reorder.after, maxHold: reorder.maxHold, context: context)
            } else {
                self.forwardRequest(message, facts: facts, disposition: disposition, context: context)
            }
        case .drop:
            self.drop(message)
        case .respond(let reply):
            self.drop(message)
            let answer = InjectedReplyEncoder.encode(reply, framing: self.support.framing.kind, request: info)
            if let answer, let now = self.support.exchange.inject(answer) {
                self.connection.writeInjected([now])
            }
        case .sever(let mode, let point):
            self.cut(message, mode: mode, passing: point == .midMessage ? message.bytes.readableBytes / 2 : 0, context: context)
        case .severAtByte(let mode, let offset):
            self.cut(message, mode: mode, passing: offset, context: context)
        case .discardFromNow(let hang):
            self.discardFromNow(message, hang: hang, rule: Self.stoppingRule(disposition), context: context)
        }
    }

    /// Sends a request on to the server, with what the disposition adds to it.
    private func forwardRequest(
        _ message: FramedMessage,
        facts: MessageFacts,
        disposition: MessageDisposition,
        context: ChannelHandlerContext
    ) {
        // The unframer queues the request in the exchange as it passes it on.
        self.forward(message, paced: disposition, context: context)
        if let sever = disposition.severOnReply { self.support.exchange.severOnReply(to: message.unit, sever) }
        self.connection.writeInjected(self.support.exchange.takeDue())
        if let duplicate = disposition.duplicate {
            self.connection.sendCopies(
                of: message, rule: disposition.duplicateRule ?? "", copies: duplicate.copies, gap: duplicate.gap, on: context.eventLoop
            )
        }
        if let mode = disposition.severAfter {
            self.severAfterHeld(mode, context: context)
        }
        self.countTowardsHeld(context: context)
    }

    // MARK: Reorder

    private func hold(
        _ message: FramedMessage,
        facts: MessageFacts,
        disposition: MessageDisposition,
        after: Int,
        maxHold: Duration,
        context: ChannelHandlerContext
    ) {
        let decision = disposition.taken.first { if case .message(.reorder) = $0.effect { true } else { false } }
        self.held.hold(after: after) { id in
            let timer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(maxHold.nanoseconds)) { [self] in
                guard let context = self.context, let held = self.held.take(id: id) else { return }
                self.release(held.item, because: .delay, context: context)
                context.fireChannelReadComplete()
            }
            return Held(message: message, facts: facts, disposition: disposition, timer: timer, since: context.eventLoop.now, decision: decision)
        }
    }

    /// A request went on: held ones waiting for it count down, and those due go on
    /// right behind it.
    private func countTowardsHeld(context: ChannelHandlerContext) {
        guard !self.held.isEmpty else { return }
        self.held.pass()
        while let held = self.held.takeDue() {
            self.release(held.item, because: .after, context: context)
        }
    }

    private func release(_ held: Held, because reason: Release, context: ChannelHandlerContext) {
        held.timer?.cancel()
        if self.connection.severed || self.discarding {
            self.drop(held.message)
            return
        }
        if let decision = held.decision {
            let now = context.eventLoop.now
            var event = decision.event(proxy: self.connection.proxyName, connection: self.connection.ordinal, mono: now.uptimeNanoseconds)
            event.action = "released"
            event.params?["reason"] = reason.rawValue
            event.params?["held_for"] = DurationText.format(FaultConnection.duration(now - held.since))
            self.connection.events.record(event)
        }
        self.forwardRequest(held.message, facts: held.facts, disposition: held.disposition, context: context)
    }

    private func releaseAll(context: ChannelHandlerContext) {
        while let held = self.held.takeFirst() {
            self.release(held.item, because: .end, context: context)
        }
        context.fireChannelReadComplete()
    }

    // MARK: Replies

    private func reply(_ message: FramedMessage, info: MessageInfo, context: ChannelHandlerContext) {
        let exchange = self.support.exchange
        // The framer paired a final reply already (it carries `requestUnit`); an interim
        // one belongs to the request still awaited.
        let request = (info.requestUnit != nil ? exchange.lastAnswered : exchange.awaited)?.info
        let now = context.eventLoop.now
        let facts = MessageFacts(
            ordinal: message.unit,
            method: info.method ?? request?.method,
            path: info.path ?? request?.path,
            headers: request?.headers.map { ($0.name, $0.value) } ?? [],
            command: request?.command,
            attempt: request?.attempt
        )
        let disposition = MessageDisposition(self.connection.decideMessage(direction: .downstream, facts: facts, now: now))
        self.record(disposition.taken, facts: facts, now: now)
        switch disposition.fate {
        case .forward, .respond:
            self.forward(message, paced: disposition, context: context)
            if let mode = disposition.severAfter { self.severAfterHeld(mode, context: context) }
        case .drop:
            self.drop(message)
        case .sever(let mode, let point):
            self.cut(message, mode: mode, passing: point == .midMessage ? message.bytes.readableBytes / 2 : 0, context: context)
        case .severAtByte(let mode, let offset):
            self.cut(message, mode: mode, passing: offset, context: context)
        case .discardFromNow(let hang):
            self.discardFromNow(message, hang: hang, rule: Self.stoppingRule(disposition), context: context)
        }
        self.connection.writeInjected(exchange.takeDue())
    }

    /// The first bytes of a reply arrived: a request armed with "sever at the first
    /// byte of its reply" cuts the connection now, and the reply is discarded.
    private func replyBegan(unit: UInt64, context: ChannelHandlerContext) {
        guard !self.connection.severed, !self.discarding, let request = self.support.exchange.awaited,
            var decision = request.severOnReply, case .message(.sever(let mode, _)) = decision.effect
        else { return }
        decision.direction = .downstream
        decision.unit = unit
        decision.params["request_unit"] = String(request.unit)
        self.connection.recordMessageFault(decision, attempt: request.info.attempt, now: context.eventLoop.now)
        self.discarding = true
        self.connection.sever(mode, direction: .downstream)
    }

    // MARK: Carrying out

    private func drop(_ message: FramedMessage) {
        self.connection.addDropped(message.bytes.readableBytes, self.direction)
    }

    /// Passes a message on with the pace its disposition decided. The pace goes with
    /// this message only (`FaultConnection.carrying`): if a later stage discards the
    /// message, its delay is discarded too, never lent to the next write.
    private func forward(_ message: FramedMessage, paced disposition: MessageDisposition, context: ChannelHandlerContext) {
        guard disposition.delay > .zero || disposition.bytesPerSecond != nil || disposition.slice != nil else {
            context.fireChannelRead(MessageStage.wrapInboundOut(message))
            return
        }
        let now = context.eventLoop.now
        let rules = self.connection.faults.holdingRules(of: disposition.taken)
        let pace = PacingStage.Pace(
            ready: now + .nanoseconds(disposition.delay.nanoseconds),
            bytesPerSecond: disposition.bytesPerSecond,
            slice: disposition.slice,
            hold: PacingStage.Hold(
                since: now,
                unit: disposition.taken.first?.unit,
                delayRules: rules.delay,
                paceRules: rules.pace,
                decisions: self.connection.events.isRecording ? disposition.taken : []
            )
        )
        self.connection.carrying(pace, self.direction) {
            context.fireChannelRead(MessageStage.wrapInboundOut(message))
        }
    }

    /// Passes the first `passing` bytes of the message (none: cut before it), then cuts.
    private func cut(_ message: FramedMessage, mode: SeverMode, passing: Int, context: ChannelHandlerContext) {
        var rest = message.bytes
        if passing > 0 {
            let head = rest.readSlice(length: min(passing, rest.readableBytes)) ?? ByteBuffer()
            context.fireChannelRead(MessageStage.wrapInboundOut(message.replacingBytes(head)))
        }
        self.drop(message.replacingBytes(rest))
        self.severAfterHeld(mode, context: context)
    }

    /// Cuts once what already went on in this direction has left the pacing stage.
    private func severAfterHeld(_ mode: SeverMode, context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
        self.discarding = true
        let connection = self.connection
        let direction = self.direction
        connection.afterHeld(direction) {
            connection.sever(mode, direction: direction)
        }
    }

    private func discardFromNow(_ message: FramedMessage, hang: (close: SeverMode, after: Duration?)?, rule: String?, context: ChannelHandlerContext) {
        self.discarding = true
        self.stoppedBy = rule.map { ($0, hang != nil) }
        self.drop(message)
        if let hang {
            self.connection.hang(close: hang.close, after: hang.after, on: context.eventLoop)
        }
    }

    /// The blackhole or hang rule among those a disposition carries out.
    private static func stoppingRule(_ disposition: MessageDisposition) -> String? {
        disposition.taken.first { decision in
            switch decision.effect {
            case .blackhole, .hang: true
            default: false
            }
        }?.rule
    }

    /// The plan changed: a blackhole or hang whose rule is gone ends, and messages flow
    /// again from the next one (those it discarded stay discarded, as a chunk's
    /// blackhole's do; a hang's pending close is called off).
    func planChanged() {
        guard self.discarding, let stopped = self.stoppedBy, !self.connection.severed, !self.connection.faults.isArmed(stopped.rule) else { return }
        if stopped.hang { self.connection.cancelHangs() }
        self.discarding = false
        self.stoppedBy = nil
    }

    private func record(_ decisions: [FaultDecision], facts: MessageFacts, now: NIODeadline) {
        for decision in decisions {
            self.connection.recordMessageFault(decision, attempt: facts.attempt, now: now)
        }
    }
}

@available(*, unavailable)
extension MessageStage: Sendable {}
