import FaultlineCore
import FaultlineFraming
import NIOCore

/// The upstream connection that copies of one client connection's duplicated requests
/// travel on: it sends each copy's bytes, reads the replies with the connection's
/// framing, pairs them with the copies in order, and hands each copy's outcome to its
/// `finish`. The replies never reach the client.
///
///     client ─▶ proxy ─▶ upstream            (the originals, as usual)
///                  └───▶ upstream (copies) ─▶ each reply recorded as `duplicate_reply`
///
/// One leg carries many copies, one after another (`DuplicateLane` feeds it and opens
/// another only once it has ended): a connection with thousands of duplicated requests
/// costs the upstream one extra connection, not thousands. Up to `window` copies wait
/// for their replies at once (one for HTTP, where a server may close after any reply);
/// replies answer them in order.
///
/// A copy ends at its first final reply (an HTTP 1xx or a RESP push does not count).
/// The leg ends when the upstream closes or fails, when a reply does not frame, when
/// the oldest copy waits longer than `replyTimeout`, or when a reply comes that no copy
/// asked for; then every copy still on it ends too, each with the reason. A copy whose
/// bytes never reached the socket ends as `notSent`. `finish` is called exactly once
/// per copy.
final class DuplicateLeg: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How a copy ended.
    enum Outcome {
        /// The copy was sent and this is the server's reply to it.
        case reply(ByteBuffer, MessageInfo)
        /// The copy was sent (its bytes reached the socket) and got no reply.
        case failed(String)
        /// The copy never reached the upstream: no connection, the leg ended before
        /// its bytes were written, or too many copies were waiting already.
        case notSent(String)
    }

    /// How long a copy waits for its reply.
    static let replyTimeout: TimeAmount = .seconds(30)
    /// Copies awaiting replies on one leg at a time, for framings whose servers answer
    /// pipelined requests in order (line, length, RESP).
    static let window = 16
    /// Bytes of copies awaiting replies beyond which no more are written (at least one
    /// always is).
    static let windowBytes = 256 * 1024

    /// A copy on its way: what it sends, and whether its bytes reached the socket.
    final class Sending {
        let copy: DuplicateLane.Copy
        let deadline: NIODeadline
        var sent = false

        init(copy: DuplicateLane.Copy, deadline: NIODeadline) {
            self.copy = copy
            self.deadline = deadline
        }
    }

    private let lane: DuplicateLane
    private let session: FramingSession
    private let isHTTP: Bool
    private var framer: any MessageFramer
    private var buffer = ByteBuffer()
    private var inFlight = CircularBuffer<Sending>()
    private var inFlightBytes = 0
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// No more copies go on this leg; it closes once those on it have ended.
    private var retiring = false
    private(set) var ended = false

    /// - Parameters:
    ///   - lane: the client connection's copies, told when this leg can take more and
    ///     when it has ended.
    ///   - framing: the proxy's framing, to find each reply's end.
    init(lane: DuplicateLane, framing: FramingConfiguration) {
        self.lane = lane
        self.session = FramingSession(configuration: framing, proxy: "", connection: 0, events: NullEventSink())
        self.isHTTP = framing.kind == .http
        self.framer = self.session.makeFramer(for: .downstream)
    }

    /// Copies awaiting replies now.
    var waiting: Int { self.inFlight.count }

    /// Whether another copy of `request` may be written now.
    func canTake(_ request: FramedMessage) -> Bool {
        guard let context = self.context, !self.ended, !self.retiring, context.channel.isWritable else { return false }
        if self.inFlight.isEmpty { return true }
        if self.isHTTP || Self.endsPairing(request) { return false }
        return self.inFlight.count < Self.window && self.inFlightBytes + request.bytes.readableBytes <= Self.windowBytes
    }

    /// Writes `copy` (the caller checked `canTake`).
    func send(_ copy: DuplicateLane.Copy) {
        guard let context = self.context else { return }
        let request = copy.request
        // The response framer must know each request (a reply to HEAD has no body).
        self.session.messageForwarded(request, direction: .upstream)
        let sending = Sending(copy: copy, deadline: context.eventLoop.now + Self.replyTimeout)
        self.inFlight.append(sending)
        self.inFlightBytes += request.bytes.readableBytes
        // After a command that stops replies from pairing with commands, or a request
        // that asks the server to close, nothing more goes on this connection.
        if Self.endsPairing(request) || Self.asksToClose(request.info) { self.retiring = true }
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.assumeIsolated().whenSuccess {
            sending.sent = true
            copy.written(request.bytes.readableBytes)
        }
        context.writeAndFlush(DuplicateLeg.wrapOutboundOut(request.bytes), promise: promise)
        if self.timer == nil { self.armTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        self.start(context: context)
    }

    /// A host-name upstream gets its handlers once connected (`UpstreamDialer`): the
    /// leg then starts as it is added.
    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.start(context: context) }
    }

    private func start(context: ChannelHandlerContext) {
        guard self.context == nil else { return }
        self.context = context
        // Ended while it was being dialled (the lane stopped): nothing goes on it.
        if self.ended {
            context.close(promise: nil)
            return
        }
        self.lane.legCanTake(self)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.fireChannelWritabilityChanged()
        if context.channel.isWritable { self.lane.legCanTake(self) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = DuplicateLeg.unwrapInboundIn(data)
        self.buffer.writeBuffer(&incoming)
        var answered = false
        decoding: while !self.ended {
            switch self.framer.decode(buffer: &self.buffer) {
            case .needMoreData:
                break decoding
            case .message(let bytes, let info):
                guard Exchange.isFinalReply(info, bytes: bytes, framing: self.session.configuration.kind) else { continue }
                guard let first = self.inFlight.popFirst() else {
                    self.end(because: "the upstream sent a reply no copy asked for")
                    return
                }
                self.inFlightBytes -= first.copy.request.bytes.readableBytes
                if Self.asksToClose(info) { self.retiring = true }
                first.copy.finish(first.copy.request, .reply(bytes, info))
                answered = true
            case .raw(let reason):
                self.end(because: "the reply did not frame: \(reason)")
                return
            }
        }
        guard answered, !self.ended else { return }
        if self.retiring && self.inFlight.isEmpty {
            self.end(because: "the copy's connection was retired", retired: true)
            return
        }
        self.armTimer(context: context)
        self.lane.legCanTake(self)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.ended, let first = self.inFlight.first, first.sent, let last = self.framer.decodeLast(buffer: &self.buffer) {
            self.inFlight.removeFirst()
            self.inFlightBytes -= first.copy.request.bytes.readableBytes
            first.copy.finish(first.copy.request, .reply(last.bytes, last.info))
        }
        self.end(because: "the upstream closed the copy's connection before a reply")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.end(because: "the copy's connection failed: \(error)")
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        // The context holds this handler: kept, the two (and what the leg still held,
        // its read buffer and lane) stayed in memory after the copies' connection closed.
        self.context = nil
    }

    /// Ends the leg: every copy still on it ends with `reason` (as `notSent` when its
    /// bytes never reached the socket), the connection closes, and the lane may open
    /// another for the copies still to come. `retired`: the leg ended as planned (idle,
    /// or it carried its last copy), not because the connection was lost.
    func end(because reason: String, retired: Bool = false) {
        guard !self.ended else { return }
        self.ended = true
        self.timer?.cancel()
        self.timer = nil
        let copies = self.inFlight
        self.inFlight.removeAll()
        self.inFlightBytes = 0
        for sending in copies {
            sending.copy.finish(sending.copy.request, sending.sent ? .failed(reason) : .notSent(reason))
        }
        self.context?.close(promise: nil)
        self.lane.legEnded(self, retired: retired)
    }

    /// The timer for the oldest copy's reply.
    private func armTimer(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        guard let first = self.inFlight.first else { return }
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: first.deadline) { [self] in
            self.timer = nil
            guard let oldest = self.inFlight.popFirst() else { return }
            self.inFlightBytes -= oldest.copy.request.bytes.readableBytes
            let seconds = Self.replyTimeout.nanoseconds / 1_000_000_000
            oldest.copy.finish(oldest.copy.request, oldest.sent ? .failed("no reply within \(seconds)s") : .notSent("not written within \(seconds)s"))
            // Replies no longer pair with the copies behind it.
            self.end(because: "an earlier copy on the same connection got no reply within \(seconds)s")
        }
    }

    /// A RESP command after which the server no longer answers commands one for one
    /// (CLIENT REPLY OFF or SKIP, SUBSCRIBE, MONITOR): the last copy its leg carries.
    static func endsPairing(_ request: FramedMessage) -> Bool {
        guard let info = request.info else { return false }
        return info.silencesReplies || info.command.map(Exchange.unpairedCommands.contains) == true
    }

    /// An HTTP request or reply saying `Connection: close`.
    static func asksToClose(_ info: MessageInfo?) -> Bool {
        guard let value = info?.header("Connection") else { return false }
        return value.lowercased().split(separator: ",").contains { $0.filter { $0 != " " && $0 != "\t" } == "close" }
    }
}

@available(*, unavailable)
extension DuplicateLeg: Sendable {}
