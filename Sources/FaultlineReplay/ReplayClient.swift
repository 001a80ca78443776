import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import NIOCore
import NIOPosix

/// A reply replay received: its exact bytes and what the framer read from them.
package struct ReplayReply: Sendable, Equatable {
    package var bytes: [UInt8]
    /// HTTP status; nil for RESP.
    package var status: Int?
    package var headers: [MessageInfo.Header]
    /// HTTP: the body as the service meant it, de-chunked and decoded
    /// (`ReplayReply.http`). RESP and line: the whole reply.
    package var body: [UInt8]
    /// Why `body` is the bytes as received after all (a gzip body that does not
    /// inflate, chunks that do not parse); nil when it is what it should be.
    package var note: String?

    package func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return self.headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// Why a request got no reply.
struct ReplayFailure: Error, CustomStringConvertible {
    enum Kind: Equatable {
        case connect
        case timedOut
        case closed
        case unparsable
    }

    var kind: Kind
    var description: String
}

/// One connection to the target (or to replay's own proxy) carrying one request.
///
/// A fresh connection per request: no experiment inherits another's connection state,
/// and a retry goes out on a new connection as a careful client's does. The reply's end
/// is found by the protocol's framer (FaultlineFraming), so keep-alive connections are
/// never waited on to close.
final class ReplayConnection: Sendable {
    let channel: any Channel
    private let reply: EventLoopFuture<ReplayReply>

    private init(channel: any Channel, reply: EventLoopFuture<ReplayReply>) {
        self.channel = channel
        self.reply = reply
    }

    /// Connects to `address`. `request` is the request that will be sent (the HTTP
    /// response framer needs its method); `timeout` bounds the connect and, from the
    /// moment the connection is up, the wait for the whole reply.
    static func open(
        to address: HostPort,
        wire: ReplayProtocol,
        request: [UInt8],
        timeout: Duration,
        group: any EventLoopGroup
    ) async throws -> ReplayConnection {
        let amount = TimeAmount.nanoseconds(timeout.nanoseconds)  // saturating
        do {
            let (channel, reply) = try await ClientBootstrap(group: group)
                .connectTimeout(amount)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connect(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let promise = channel.eventLoop.makePromise(of: ReplayReply.self)
                        let handler = ReplyHandler(framer: Self.framer(wire, request: request), promise: promise, timeout: amount)
                        try channel.pipeline.syncOperations.addHandler(handler)
                        return (channel, promise.futureResult)
                    }
                }
            return ReplayConnection(channel: channel, reply: reply)
        } catch {
            throw ReplayFailure(kind: .connect, description: "cannot connect to \(address): \(ConnectFailure.describe(error))")
        }
    }

    /// The framer for the reply to `request`.
    private static func framer(_ wire: ReplayProtocol, request: [UInt8]) -> any MessageFramer {
        switch wire {
        case .http:
            var (requests, responses) = HTTPFramer.pair()
            var buffer = ByteBuffer(bytes: request)
            if case .message(_, let info) = requests.decode(buffer: &buffer) {
                requests.requestForwarded(info)
            }
            return responses
        case .resp:
            return RESPFramer(role: .response)
        case .line:
            return LineFramer(role: .response)
        }
    }

    func write(_ bytes: ArraySlice<UInt8>) async throws {
        guard !bytes.isEmpty else { return }
        try await self.channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// The reply, or the failure that ended the wait (timeout, close, garbage).
    func awaitReply() async -> Result<ReplayReply, ReplayFailure> {
        do {
            return .success(try await self.reply.get())
        } catch let failure as ReplayFailure {
            return .failure(failure)
        } catch {
            return .failure(ReplayFailure(kind: .closed, description: "\(error)"))
        }
    }

    func close() async {
        try? await self.channel.close()
    }

    /// Sends `request` on a new connection and waits for its reply.
    static func exchange(
        _ request: [UInt8],
        to address: HostPort,
        wire: ReplayProtocol,
        timeout: Duration,
        group: any EventLoopGroup
    ) async -> Result<ReplayReply, ReplayFailure> {
        let connection: ReplayConnection
        do {
            connection = try await Self.open(to: address, wire: wire, request: request, timeout: timeout, group: group)
        } catch let failure as ReplayFailure {
            return .failure(failure)
        } catch {
            return .failure(ReplayFailure(kind: .connect, description: "\(error)"))
        }
        do {
            try await connection.write(request[...])
        } catch {
            await connection.close()
            return .failure(ReplayFailure(kind: .closed, description: "the connection closed while sending: \(error)"))
        }
        let reply = await connection.awaitReply()
        await connection.close()
        return reply
    }
}

/// Reads bytes until the framer says one whole reply arrived (skipping HTTP 1xx), then
/// completes its promise once; a timeout, a close, or bytes that do not parse fail it.
private final class ReplyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var framer: any MessageFramer
    private var buffer = ByteBuffer()
    private let promise: EventLoopPromise<ReplayReply>
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var done = false

    init(framer: any MessageFramer, promise: EventLoopPromise<ReplayReply>, timeout: TimeAmount) {
        self.framer = framer
        self.promise = promise
        self.timeout = timeout
    }

    func channelActive(context: ChannelHandlerContext) {
        let loopBound = context.eventLoop.assumeIsolated()
        let timeout = self.timeout
        self.timer = loopBound.scheduleTask(in: timeout) {
            self.fail(ReplayFailure(kind: .timedOut, description: "no reply within \(Self.text(timeout))"))
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = ReplyHandler.unwrapInboundIn(data)
        self.buffer.writeBuffer(&chunk)
        while !self.done {
            switch self.framer.decode(buffer: &self.buffer) {
            case .message(let bytes, let info):
                if let status = info.status, status >= 100, status < 200, status != 101 { continue }
                self.succeed(bytes, info)
            case .needMoreData:
                return
            case .raw(let reason):
                self.fail(ReplayFailure(kind: .unparsable, description: "the reply does not parse: \(reason)"))
                context.close(promise: nil)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.done {
            if let (bytes, info) = self.framer.decodeLast(buffer: &self.buffer) {
                self.succeed(bytes, info)
            } else {
                let held = self.buffer.readableBytes
                self.fail(ReplayFailure(
                    kind: .closed,
                    description: held == 0 ? "the connection closed without a reply" : "the connection closed after \(held) bytes of a reply"
                ))
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(ReplayFailure(kind: .closed, description: "\(error)"))
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.fail(ReplayFailure(kind: .closed, description: "the connection closed without a reply"))
    }

    private func succeed(_ bytes: ByteBuffer, _ info: MessageInfo) {
        guard !self.done else { return }
        self.done = true
        self.timer?.cancel()
        let all = Array(bytes.readableBytesView)
        if info.status != nil {
            self.promise.succeed(ReplayReply.http(all, status: info.status, headers: info.headers))
        } else {
            self.promise.succeed(ReplayReply(bytes: all, status: nil, headers: info.headers, body: all))
        }
    }

    private func fail(_ failure: ReplayFailure) {
        guard !self.done else { return }
        self.done = true
        self.timer?.cancel()
        self.promise.fail(failure)
    }

    static func text(_ amount: TimeAmount) -> String {
        DurationText.format(.nanoseconds(amount.nanoseconds))
    }
}

@available(*, unavailable) extension ReplyHandler: Sendable {}
