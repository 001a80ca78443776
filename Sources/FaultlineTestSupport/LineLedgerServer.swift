import NIOCore
import Synchronization

/// A line-protocol ledger on `127.0.0.1:0` that speaks as the demo's ledger does
/// (`Sources/faultline/Demo/LedgerService.swift`, which tests cannot start on its own):
/// `deposit N` adds N to one balance shared by every connection and answers
/// `balance B`. Naive on purpose: a deposit applied twice counts twice. `deposit 0`
/// reads the balance without changing it, so it serves as a probe.
package final class LineLedgerServer: Sendable {
    private let books = Mutex((balance: 0, deposits: 0))
    private let server = Mutex<TestServer?>(nil)

    package var port: Int { self.server.withLock { $0?.port ?? 0 } }
    package var balance: Int { self.books.withLock { $0.balance } }

    private init() {}

    package static func start() async throws -> LineLedgerServer {
        let ledger = LineLedgerServer()
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                var pending: [UInt8] = []
                for try await chunk in inbound {
                    pending += chunk.readableBytesView
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = String(decoding: pending[..<newline], as: UTF8.self)
                        pending.removeFirst(newline + 1)
                        try await outbound.write(ByteBuffer(string: ledger.answer(line) + "\n"))
                    }
                }
            }
        }
        ledger.server.withLock { $0 = server }
        return ledger
    }

    private func answer(_ line: String) -> String {
        let words = line.split(separator: " ")
        guard words.count == 2, words[0] == "deposit", let amount = Int(words[1]) else { return "error: say 'deposit N'" }
        let balance = self.books.withLock { books in
            books.balance += amount
            books.deposits += 1
            return books.balance
        }
        return "balance \(balance)"
    }

    package func stop() async {
        let server = self.server.withLock { $0 }
        await server?.stop()
    }
}
