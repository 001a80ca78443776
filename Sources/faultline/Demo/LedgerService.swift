import NIOCore
import NIOPosix
import Synchronization

/// The demo's second service: a ledger that takes one command per line, `deposit N`,
/// adds N to one balance shared by every connection (as a database would) and answers
/// `balance B`. A deposit is not idempotent: applied twice, it counts twice.
final class LedgerService: Sendable {
    private let channel: any Channel
    private let state: LedgerState

    private init(channel: any Channel, state: LedgerState) {
        self.channel = channel
        self.state = state
    }

    /// Starts listening on a free loopback port.
    static func start(group: any EventLoopGroup) async throws -> LedgerService {
        let state = LedgerState()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LedgerHandler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return LedgerService(channel: channel, state: state)
    }

    var address: SocketAddress { self.channel.localAddress! }

    /// The balance now, and how many deposits were applied.
    var books: (balance: Int, deposits: Int) {
        self.state.books.withLock { $0 }
    }

    func stop() async {
        try? await self.channel.close()
    }
}

private final class LedgerState: Sendable {
    let books = Mutex((balance: 0, deposits: 0))
}

private final class LedgerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let state: LedgerState
    private var pending = ByteBuffer()

    init(state: LedgerState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = LedgerHandler.unwrapInboundIn(data)
        self.pending.writeBuffer(&chunk)
        while let newline = self.pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let line = self.pending.readString(length: newline - self.pending.readerIndex) ?? ""
            self.pending.moveReaderIndex(forwardBy: 1)
            context.write(LedgerHandler.wrapOutboundOut(ByteBuffer(string: self.answer(line) + "\n")), promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    private func answer(_ line: String) -> String {
        let words = line.split(separator: " ")
        guard words.count == 2, words[0] == "deposit", let amount = Int(words[1]) else {
            return "error: say 'deposit N'"
        }
        let balance = self.state.books.withLock { books in
            books.balance += amount
            books.deposits += 1
            return books.balance
        }
        return "balance \(balance)"
    }
}
