import FaultlineCore
import FaultlineFraming
import NIOCore

/// One copy of a duplicated request, on an upstream connection of its own: it sends the
/// request's bytes, reads the reply with the connection's framing, hands the outcome
/// to `finish`, and closes. The reply never reaches the client.
///
///     client ─▶ proxy ─▶ upstream            (the original, as usual)
///                  └───▶ upstream (copy)  ─▶ reply recorded as `duplicate_reply`
///
/// It ends at the first final reply (an HTTP 1xx or a RESP push does not count), when
/// the upstream closes or fails, when the reply does not frame, or after `replyTimeout`,
/// whichever comes first; `finish` is called exactly once.
final class DuplicateLeg: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// How a copy ended.
    enum Outcome {
        case reply(ByteBuffer, MessageInfo)
        case failed(String)
    }

    /// How long a copy waits for its reply.
    static let replyTimeout: TimeAmount = .seconds(30)

    private let request: FramedMessage
    private let session: FramingSession
    private var framer: any MessageFramer
    private var buffer = ByteBuffer()
    private var finish: ((Outcome) -> Void)?
    private let onWritten: (Int) -> Void
    private var timer: Scheduled<Void>?

    /// - Parameters:
    ///   - request: the request to send again, bytes unchanged.
    ///   - framing: the proxy's framing, to find the reply's end.
    ///   - onWritten: called with the request's size once the copy is written.
    ///   - finish: called once with how the copy ended.
    init(
        request: FramedMessage,
        framing: FramingConfiguration,
        onWritten: @escaping (Int) -> Void,
        finish: @escaping (Outcome) -> Void
    ) {
        self.request = request
        self.session = FramingSession(configuration: framing, proxy: "", connection: 0, events: NullEventSink())
        self.framer = self.session.makeFramer(for: .downstream)
        self.onWritten = onWritten
        self.finish = finish
    }

    func channelActive(context: ChannelHandlerContext) {
        // The response framer must know the request (a reply to HEAD has no body).
        self.session.messageForwarded(self.request, direction: .upstream)
        context.writeAndFlush(Self.wrapOutboundOut(self.request.bytes), promise: nil)
        self.onWritten(self.request.bytes.readableBytes)
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.replyTimeout) { [self] in
            self.end(.failed("no reply within \(Self.replyTimeout.nanoseconds / 1_000_000_000)s"), context: context)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = Self.unwrapInboundIn(data)
        self.buffer.writeBuffer(&incoming)
        while self.finish != nil {
            switch self.framer.decode(buffer: &self.buffer) {
            case .needMoreData:
                return
            case .message(let bytes, let info):
                if Exchange.isFinalReply(info, bytes: bytes, framing: self.session.configuration.kind) {
                    self.end(.reply(bytes, info), context: context)
                }
            case .raw(let reason):
                self.end(.failed("the reply did not frame: \(reason)"), context: context)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let last = self.framer.decodeLast(buffer: &self.buffer) {
            self.end(.reply(last.bytes, last.info), context: context)
        } else {
            self.end(.failed("the upstream closed the copy's connection before a reply"), context: context)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.end(.failed("the copy's connection failed: \(error)"), context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
    }

    private func end(_ outcome: Outcome, context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        guard let finish = self.finish else { return }
        self.finish = nil
        finish(outcome)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension DuplicateLeg: Sendable {}
