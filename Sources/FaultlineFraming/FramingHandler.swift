import FaultlineCore
import NIOCore

/// Cuts one direction of a connection into messages and passes each on as one unit.
///
///     socket reads:  | GET /a HTTP/1.1\r\n\r\nGET / | b HTTP/1.1\r\n\r\n |
///     units out:     | FramedMessage(GET /a) | FramedMessage(GET /b) |   (same bytes)
///
/// With `passesUnits` off (no stage acts on whole messages) each unit goes on as its
/// bytes, and the handler reports it forwarded itself, as `UnframingHandler` does
/// otherwise: a message then costs no `FramedMessage` and no handler of its own.
///
/// Each message is recorded as a `message` event before it goes on, so a fault stage
/// after this handler can drop, delay or duplicate whole messages and the log already
/// says what they were. Read calls pass through untouched, so the bridge's backpressure
/// still holds; what is held is at most one incomplete message, bounded by
/// `FramingLimits`.
///
/// When the framer gives up (bytes that do not parse, a limit, a protocol switch), or a
/// started message stays incomplete for `maxHoldNanoseconds`, the held bytes go on at
/// once as one raw unit, a `framing_fallback` event says why, and every later read goes
/// on as it comes: framing never breaks a connection that works without it. When the
/// input ends inside a message, the held bytes go on the same way before the end does.
package final class FramingHandler: ChannelInboundHandler {
    package typealias InboundIn = ByteBuffer
    /// `ByteBuffer` instead while `passesUnits` is off.
    package typealias InboundOut = FramedMessage

    private enum Mode {
        case framing
        case raw
        /// The input ended; nothing more will be read.
        case ended
    }

    private var framer: any MessageFramer
    private let limits: FramingLimits
    private let recorder: MessageRecorder
    private var buffer = ByteBuffer()
    private var mode = Mode.framing
    private var nextUnit: UInt64 = 0
    private var holdTimer: Scheduled<Void>?
    /// The unit whose first bytes were announced with `MessageBegan`, and when they came.
    private var announced: UInt64?
    private var announcedAt: UInt64 = 0
    /// The connection's exchange (attempts, reply pairing); nil records neither.
    private let exchange: Exchange?
    /// Reports a unit handed on as bytes (`passesUnits` off) as forwarded.
    private let forwarding: ((ByteBuffer, MessageInfo?, UInt64) -> Void)?
    /// Hand on `FramedMessage`s (a message stage and an unframer follow) rather than
    /// bytes. Turned on, never off, when a plan first brings a message rule; the
    /// handlers after it must be in place by then.
    package var passesUnits: Bool
    /// In the direct path (`passesUnits` off), the whole messages of one read that lie
    /// next to each other in `buffer`, passed on as one slice once the read is drained:
    /// a read of 5,000 pipelined lines goes on as one write, not 5,000 (each a pass
    /// through the pipeline and an entry in swift-nio's write queue, which never
    /// shrinks: an idle connection kept 650 KiB after such a burst). Each message is
    /// still recorded and reported forwarded on its own, as it is framed.
    private var run: Range<Int>?

    init(
        framer: any MessageFramer,
        limits: FramingLimits,
        recorder: MessageRecorder,
        exchange: Exchange? = nil,
        forwarding: ((ByteBuffer, MessageInfo?, UInt64) -> Void)? = nil,
        passesUnits: Bool = true
    ) {
        self.framer = framer
        self.limits = limits
        self.recorder = recorder
        self.exchange = exchange
        self.forwarding = forwarding
        self.passesUnits = passesUnits
    }

    /// A handler for one direction; `FramingSession.handlers(for:)` makes the usual ones.
    package convenience init(
        framer: any MessageFramer,
        configuration: FramingConfiguration,
        proxy: String,
        connection: UInt64,
        direction: Event.Direction,
        events: any EventSink
    ) {
        let context = MessageRecorder.Context(
            proxy: proxy, connection: connection, events: events,
            framing: configuration.kind.name, recordPayloads: configuration.recordPayloads
        )
        self.init(
            framer: framer, limits: configuration.limits,
            recorder: MessageRecorder(context: context, direction: direction)
        )
    }

    /// Fired (as a user inbound event, before any of its bytes go on) when the first
    /// bytes of a message arrive: the moment "the first byte of the reply arrives" for
    /// a stage that severs then. Never fired after a fallback; the unit it names may
    /// still go on raw if framing falls back before the message is whole. Fired only
    /// while `passesUnits` is on: without a message stage nothing listens.
    package struct MessageBegan: Sendable, Equatable {
        /// The unit the message will be passed on as.
        package var unit: UInt64
    }

    /// True once this direction carries raw bytes.
    package var isRaw: Bool {
        self.mode != .framing
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = FramingHandler.unwrapInboundIn(data)
        guard self.mode == .framing else {
            self.forwardRaw(incoming, context: context)
            return
        }
        if self.buffer.readableBytes == 0 {
            self.buffer = incoming
        } else {
            self.buffer.writeBuffer(&incoming)
        }
        self.announceStart(context: context)
        self.drain(context: context)
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed = event as? ChannelEvent {
            self.endOfInput(context: context, reason: "the input ended inside a message")
            context.fireChannelReadComplete()
        }
        context.fireUserInboundEventTriggered(event)
    }

    package func channelInactive(context: ChannelHandlerContext) {
        let before = self.nextUnit
        self.endOfInput(context: context, reason: "the connection closed inside a message")
        if self.nextUnit != before { context.fireChannelReadComplete() }
        context.fireChannelInactive()
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        self.holdTimer?.cancel()
        self.holdTimer = nil
    }

    // MARK: Framing

    /// Passes on every whole message held. Checks `mode` before each step: passing a
    /// message on may close the channel, and the close may end the input re-entrantly.
    private func drain(context: ChannelHandlerContext) {
        while self.mode == .framing {
            switch self.framer.decode(buffer: &self.buffer) {
            case .needMoreData:
                self.passRun(context: context)
                // Passing the run on may have ended the input re-entrantly.
                if self.mode == .framing { self.afterDrain(context: context) }
                return
            case .message(let bytes, let info):
                self.cancelHold()
                self.emit(bytes, info: info, context: context)
                self.announceStart(context: context)
            case .raw(let reason):
                self.fallBack(reason: reason, context: context)
            }
        }
    }

    /// Announces the next message once its first bytes are held.
    private func announceStart(context: ChannelHandlerContext) {
        guard self.mode == .framing, self.buffer.readableBytes > 0, self.announced != self.nextUnit else { return }
        self.announced = self.nextUnit
        self.announcedAt = context.eventLoop.now.uptimeNanoseconds
        if self.passesUnits { context.fireUserInboundEventTriggered(MessageBegan(unit: self.nextUnit)) }
    }

    private func afterDrain(context: ChannelHandlerContext) {
        if self.buffer.readableBytes == 0 {
            self.cancelHold()
            self.buffer = ByteBuffer()  // lets go of a large message's storage
            return
        }
        if self.buffer.readerIndex >= 64 * 1024, self.buffer.readerIndex * 2 >= self.buffer.writerIndex {
            self.buffer.discardReadBytes()
        }
        self.armHold(context: context)
    }

    private func emit(_ bytes: ByteBuffer, info: MessageInfo, context: ChannelHandlerContext) {
        let now = context.eventLoop.now
        let firstMono = self.announced == self.nextUnit ? self.announcedAt : now.uptimeNanoseconds
        var info = info
        self.exchange?.framed(&info, firstMono: firstMono, now: now.uptimeNanoseconds, bytes: bytes)
        let unit = self.nextUnit
        self.nextUnit += 1
        self.recorder.message(bytes: bytes, info: info, unit: unit, firstMono: firstMono, at: now)
        self.handOn(bytes, info: info, unit: unit, context: context)
    }

    private func forwardRaw(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        let unit = self.nextUnit
        self.nextUnit += 1
        self.handOn(bytes, info: nil, unit: unit, context: context)
    }

    private func handOn(_ bytes: ByteBuffer, info: MessageInfo?, unit: UInt64, context: ChannelHandlerContext) {
        if self.passesUnits {
            self.passRun(context: context)
            context.fireChannelRead(FramingHandler.wrapInboundOut(FramedMessage(bytes: bytes, info: info, unit: unit)))
            return
        }
        self.forwarding?(bytes, info, unit)
        if let region = self.justRead(bytes) {
            if let run = self.run, run.upperBound == region.lowerBound {
                self.run = run.lowerBound..<region.upperBound
                return
            }
            self.passRun(context: context)
            self.run = region
            return
        }
        self.passRun(context: context)
        context.fireChannelRead(NIOAny(bytes))
    }

    /// Where `bytes` lie in `buffer` when they are the very bytes a framer just read
    /// from it (the same storage, ending at the reader index); nil for anything else.
    private func justRead(_ bytes: ByteBuffer) -> Range<Int>? {
        let count = bytes.readableBytes
        let end = self.buffer.readerIndex
        guard count > 0, end >= count else { return nil }
        let start = end - count
        let same = bytes.withUnsafeReadableBytes { message in
            self.buffer.withVeryUnsafeBytes { whole in message.baseAddress == whole.baseAddress.map { $0 + start } }
        }
        return same ? start..<end : nil
    }

    /// Passes the held run of messages on, before anything that must follow it.
    private func passRun(context: ChannelHandlerContext) {
        guard let run = self.run else { return }
        self.run = nil
        // The run lies before the reader index, where `getSlice` does not reach.
        var read = self.buffer
        read.moveReaderIndex(to: run.lowerBound)
        context.fireChannelRead(NIOAny(read.readSlice(length: run.count)!))
    }

    /// From now on this direction is raw; what was held goes on as one unit.
    private func fallBack(reason: String, context: ChannelHandlerContext, ending: Bool = false) {
        self.passRun(context: context)
        self.mode = ending ? .ended : .raw
        self.framer.didFallBack(reason: reason)
        self.exchange?.stopPairing()
        self.cancelHold()
        let held = self.buffer
        self.buffer = ByteBuffer()
        let count = held.readableBytes
        self.recorder.fallback(
            reason: reason, unit: count > 0 ? self.nextUnit : nil, bytes: count > 0 ? count : nil,
            at: context.eventLoop.now
        )
        if count > 0 { self.forwardRaw(held, context: context) }
    }

    private func endOfInput(context: ChannelHandlerContext, reason: String) {
        guard self.mode == .framing else {
            self.mode = .ended
            return
        }
        self.drain(context: context)
        guard self.mode == .framing else {
            self.mode = .ended
            return
        }
        if let last = self.framer.decodeLast(buffer: &self.buffer) {
            self.emit(last.bytes, info: last.info, context: context)
        }
        if self.mode == .framing, self.buffer.readableBytes > 0 {
            self.fallBack(reason: reason, context: context, ending: true)
        }
        self.passRun(context: context)
        self.cancelHold()
        self.mode = .ended
    }

    // MARK: Hold bound

    private func armHold(context: ChannelHandlerContext) {
        guard self.holdTimer == nil, let limit = self.limits.maxHoldNanoseconds else { return }
        self.holdTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(limit)) {
            self.holdTimer = nil
            guard self.mode == .framing, self.buffer.readableBytes > 0 else { return }
            self.fallBack(
                reason: "a message stayed incomplete for \(Self.describe(nanoseconds: limit))", context: context
            )
            context.fireChannelReadComplete()
        }
    }

    private func cancelHold() {
        self.holdTimer?.cancel()
        self.holdTimer = nil
    }

    static func describe(nanoseconds: Int64) -> String {
        if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
        return "\(nanoseconds / 1_000_000)ms"
    }
}

@available(*, unavailable)
extension FramingHandler: Sendable {}
