import Foundation
import NIOCore
import NIOPosix

/// One call of a demo client, as a careful client makes it: connect, send the request,
/// wait for one whole answer until a deadline; nil when none came in time or the
/// connection ended first. The connection is closed either way.
///
/// `answer` reads what arrived so far and returns the answer once it is whole: a line
/// for the line ledger, a response for the HTTP ledger.
final class DemoCall: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let promise: EventLoopPromise<String?>
    private let answer: (ByteBuffer) -> String?
    private var received = ByteBuffer()

    private init(promise: EventLoopPromise<String?>, answer: @escaping (ByteBuffer) -> String?) {
        self.promise = promise
        self.answer = answer
    }

    /// One line out, one line back (`deposit 10` → `balance 20`).
    static func line(_ line: String, to address: SocketAddress, deadline: TimeAmount, group: any EventLoopGroup) async throws -> String? {
        try await Self.call(line + "\n", to: address, deadline: deadline, group: group) { received in
            guard let newline = received.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            return received.getString(at: received.readerIndex, length: newline - received.readerIndex)
        }
    }

    /// `POST /deposits` with `{"amount": N}` and, when given, an `Idempotency-Key`;
    /// the answer is `STATUS BODY`.
    static func deposit(_ amount: Int, key: String?, to address: SocketAddress, deadline: TimeAmount, group: any EventLoopGroup) async throws -> String? {
        let body = "{\"amount\": \(amount)}"
        var request = "POST /deposits HTTP/1.1\r\nHost: ledger\r\nContent-Type: application/json\r\n"
        if let key { request += "Idempotency-Key: \(key)\r\n" }
        request += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        return try await Self.call(request, to: address, deadline: deadline, group: group, answer: Self.httpResponse)
    }

    /// A whole HTTP response (head and Content-Length body) as `STATUS BODY`.
    static func httpResponse(_ received: ByteBuffer) -> String? {
        let text = String(buffer: received)
        guard let end = text.range(of: "\r\n\r\n") else { return nil }
        let head = text[..<end.lowerBound]
        let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        let body = text[end.upperBound...]
        guard body.utf8.count >= length else { return nil }
        let status = head.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
        return "\(status) \(body)"
    }

    static func call(
        _ request: String, to address: SocketAddress, deadline: TimeAmount, group: any EventLoopGroup,
        answer: @escaping (ByteBuffer) -> String?
    ) async throws -> String? {
        let loop = group.next()
        let promise = loop.makePromise(of: String?.self)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DemoCall(promise: promise, answer: answer))
                }
            }
            .connect(to: address)
            .get()
        let timer = loop.scheduleTask(in: deadline) { promise.succeed(nil) }
        channel.writeAndFlush(ByteBuffer(string: request), promise: nil)
        let answer = try await promise.futureResult.get()
        timer.cancel()
        try? await channel.close()
        return answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = DemoCall.unwrapInboundIn(data)
        self.received.writeBuffer(&chunk)
        if let whole = self.answer(self.received) { self.promise.succeed(whole) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise.succeed(nil)
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension DemoCall: Sendable {}
