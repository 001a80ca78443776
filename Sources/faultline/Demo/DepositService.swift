import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The demo's third service: the ledger again, over HTTP, so the checker can see
/// methods and keys. `POST /deposits` with `{"amount": N}` adds N to one balance and
/// answers `201` with the deposit's id and the balance; `GET /balance` reads it (the
/// state probe replay uses).
///
/// Naive, it applies every request it gets. Deduplicating, it does what the IETF
/// Idempotency-Key draft asks: the first request with a key is applied and its answer
/// kept; a repeat with the same key and body gets that answer again without a second
/// deposit; the same key with another body gets `422`.
final class DepositService: Sendable {
    enum Mode: Sendable {
        case naive
        case deduplicating
    }

    private let channel: any Channel
    private let state: DepositState

    private init(channel: any Channel, state: DepositState) {
        self.channel = channel
        self.state = state
    }

    /// Starts listening on a free loopback port.
    static func start(mode: Mode, group: any EventLoopGroup) async throws -> DepositService {
        let state = DepositState(mode: mode)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(DepositHandler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return DepositService(channel: channel, state: state)
    }

    var address: SocketAddress { self.channel.localAddress! }

    /// The balance now, and how many deposits were applied.
    var books: (balance: Int, deposits: Int) {
        self.state.books.withLock { ($0.balance, $0.deposits) }
    }

    func stop() async {
        try? await self.channel.close()
    }
}

private final class DepositState: Sendable {
    struct Books {
        var balance = 0
        var deposits = 0
        /// Deduplicating mode: each key's body and the answer it got.
        var answers: [String: (body: String, status: HTTPResponseStatus, answer: String)] = [:]
    }

    let mode: DepositService.Mode
    let books = Mutex(Books())

    init(mode: DepositService.Mode) {
        self.mode = mode
    }

    /// The status and body for one request.
    func answer(method: HTTPMethod, path: String, key: String?, body: String) -> (HTTPResponseStatus, String) {
        switch (method, path) {
        case (.GET, "/balance"):
            return (.ok, "{\"balance\":\(self.books.withLock { $0.balance })}")
        case (.POST, "/deposits"):
            guard let amount = Self.amount(in: body) else {
                return (.badRequest, "{\"error\":\"send {\\\"amount\\\": N}\"}")
            }
            return self.books.withLock { books in
                if self.mode == .deduplicating, let key, let earlier = books.answers[key] {
                    guard earlier.body == body else {
                        return (.unprocessableEntity, "{\"error\":\"this Idempotency-Key was used with another request\"}")
                    }
                    return (earlier.status, earlier.answer)
                }
                books.balance += amount
                books.deposits += 1
                let answer = "{\"deposit\":\(books.deposits),\"balance\":\(books.balance)}"
                if self.mode == .deduplicating, let key { books.answers[key] = (body, .created, answer) }
                return (.created, answer)
            }
        default:
            return (.notFound, "{\"error\":\"POST /deposits or GET /balance\"}")
        }
    }

    /// The N of `{"amount": N}`, read without a JSON library: the demo's client sends
    /// exactly this shape.
    static func amount(in body: String) -> Int? {
        guard let colon = body.firstIndex(of: ":") else { return nil }
        return Int(body[body.index(after: colon)...].filter { $0.isNumber || $0 == "-" })
    }
}

private final class DepositHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: DepositState
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(state: DepositState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch DepositHandler.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            self.body.clear()
        case .body(var chunk):
            self.body.writeBuffer(&chunk)
        case .end:
            guard let head = self.head else { return }
            let (status, answer) = self.state.answer(
                method: head.method, path: head.uri, key: head.headers.first(name: "Idempotency-Key"), body: String(buffer: self.body)
            )
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(answer.utf8.count))
            context.write(DepositHandler.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(DepositHandler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: answer)))), promise: nil)
            context.writeAndFlush(DepositHandler.wrapOutboundOut(.end(nil)), promise: nil)
            self.head = nil
        }
    }
}
