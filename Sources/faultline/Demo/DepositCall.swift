import Foundation
import NIOCore
import NIOPosix

/// One HTTP call of the demo's deposit client, with a deadline, on a new connection:
/// send the request, wait for one whole response (head and Content-Length body); nil
/// when none came in time or the connection ended first. Closed either way.
final class DepositCall: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let promise: EventLoopPromise<String?>
    private var received = ByteBuffer()

    private init(promise: EventLoopPromise<String?>) {
        self.promise = promise
    }

    /// `POST /deposits` with `{"amount": N}` and, when given, an `Idempotency-Key`.
    static func deposit(_ amount: Int, key: String?, to address: SocketAddress, deadline: TimeAmount, group: any EventLoopGroup) async throws -> String? {
        let body = "{\"amount\": \(amount)}"
        var request = "POST /deposits HTTP/1.1\r\nHost: ledger\r\nContent-Type: application/json\r\n"
        if let key { request += "Idempotency-Key: \(key)\r\n" }
        request += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        return try await Self.call(request, to: address, deadline: deadline, group: group)
    }

    static func call(_ request: String, to address: SocketAddress, deadline: TimeAmount, group: any EventLoopGroup) async throws -> String? {
        let loop = group.next()
        let promise = loop.makePromise(of: String?.self)
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DepositCall(promise: promise))
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
        var chunk = Self.unwrapInboundIn(data)
        self.received.writeBuffer(&chunk)
        let text = String(buffer: self.received)
        guard let end = text.range(of: "\r\n\r\n") else { return }
        let head = text[..<end.lowerBound]
        let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        let body = text[end.upperBound...]
        guard body.utf8.count >= length else { return }
        let status = head.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
        self.promise.succeed("\(status) \(body)")
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.promise.succeed(nil)
        context.fireChannelInactive()
    }
}
