import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// An HTTP/1.1 server on `127.0.0.1:0` that counts how many times it executed each
/// request: the server-side truth a fault test compares with what the client saw.
///
/// A request's id is its `X-Request-Id` header, else its path. Each complete request
/// (head and `Content-Length` body) is counted first, then answered `200` with the body
/// `ID executed N`, so a reply cut short by a fault still left its count behind.
/// Keep-alive and pipelining work; `Connection: close` closes after the reply.
package final class CountingHTTPServer: Sendable {
    fileprivate struct Waiter {
        var token: Int
        var isReady: @Sendable (State) -> Bool
        var continuation: CheckedContinuation<Void, Never>
    }

    fileprivate struct State: Sendable {
        var counts: [String: Int] = [:]
        var order: [String] = []
        var connections = 0
        var waiters: [Waiter] = []
        var nextToken = 0
        /// Waits cancelled before they were registered.
        var cancelled: Set<Int> = []
    }

    private let state = Mutex(State())
    private let server = Mutex<TestServer?>(nil)

    package var port: Int {
        self.server.withLock { $0?.port ?? 0 }
    }

    private init() {}

    package static func start() async throws -> CountingHTTPServer {
        let counting = CountingHTTPServer()
        let server = try await TestServer.start { connection in
            counting.served()
            try await connection.executeThenClose { inbound, outbound in
                var pending = ByteBuffer()
                for try await var chunk in inbound {
                    pending.writeBuffer(&chunk)
                    while let request = HTTPTestMessage.parseRequest(&pending) {
                        let count = counting.executed(request.id)
                        let body = "\(request.id) executed \(count)"
                        try await outbound.write(ByteBuffer(string: HTTPTestMessage.response(body: body, head: request.method == "HEAD")))
                        if request.closes {
                            try await TestServer.finishAfterFlush(connection, outbound)
                            return
                        }
                    }
                }
            }
        }
        counting.server.withLock { $0 = server }
        return counting
    }

    private func executed(_ id: String) -> Int {
        self.update { state in
            state.counts[id, default: 0] += 1
            state.order.append(id)
            return state.counts[id, default: 0]
        }
    }

    private func served() {
        self.update { $0.connections += 1 }
    }

    /// Changes the state and wakes the waits it satisfies.
    private func update<T>(_ change: (inout State) -> T) -> T {
        let (result, ready) = self.state.withLock { state -> (T, [CheckedContinuation<Void, Never>]) in
            let result = change(&state)
            let snapshot = state
            let ready = state.waiters.filter { $0.isReady(snapshot) }.map(\.continuation)
            state.waiters.removeAll { $0.isReady(snapshot) }
            return (result, ready)
        }
        ready.forEach { $0.resume() }
        return result
    }

    /// Returns once `isReady` holds, or when the task is cancelled (a `withTimeout`
    /// around it then fails the test instead of hanging it).
    private func wait(until isReady: @escaping @Sendable (State) -> Bool) async {
        let token = self.state.withLock { state -> Int in
            state.nextToken += 1
            return state.nextToken
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let done = self.state.withLock { state -> Bool in
                    if isReady(state) || state.cancelled.contains(token) { return true }
                    state.waiters.append(Waiter(token: token, isReady: isReady, continuation: continuation))
                    return false
                }
                if done { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.token == token }) else {
                    state.cancelled.insert(token)
                    return nil
                }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume()
        }
    }

    /// How many times the request `id` was executed so far.
    package func executions(of id: String) -> Int {
        self.state.withLock { $0.counts[id, default: 0] }
    }

    /// Every execution's id, in the order the server ran them.
    package var executionOrder: [String] {
        self.state.withLock { $0.order }
    }

    /// Returns once `id` was executed at least `count` times, or when cancelled: guard
    /// it with `withTimeout`.
    package func waitForExecutions(of id: String, count: Int) async {
        await self.wait { $0.counts[id, default: 0] >= count }
    }

    /// Stops accepting once `connections` connections were taken (or after 10 s): a
    /// connection the listener accepted but never handed to its handler would trap in
    /// NIO when the server closes. Pass how many the proxy opened (`conn_open` plus
    /// copies).
    package func stop(afterServing connections: Int) async {
        _ = try? await withTimeout(.seconds(10)) {
            await self.wait { $0.connections >= connections }
        }
        let server = self.server.withLock { $0 }
        await server?.stop()
    }
}
/// HTTP/1.1 texts for tests, and the checks that say a message is whole.
package enum HTTPTestMessage {
    package struct Request {
        package var method: String
        package var path: String
        package var id: String
        package var closes: Bool
    }

    /// A request with an `X-Request-Id`, optionally an `Idempotency-Key`, and a body.
    package static func request(
        _ method: String,
        _ path: String,
        id: String,
        key: String? = nil,
        body: String = ""
    ) -> String {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: test\r\nX-Request-Id: \(id)\r\n"
        if let key { head += "Idempotency-Key: \(key)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.utf8.count)\r\n" }
        return head + "\r\n" + body
    }

    package static func response(body: String, status: String = "200 OK", head: Bool = false) -> String {
        "HTTP/1.1 \(status)\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + (head ? "" : body)
    }

    /// Takes the first complete request from `buffer`, if there is one.
    static func parseRequest(_ buffer: inout ByteBuffer) -> Request? {
        guard let (head, total) = Self.split(Array(buffer.readableBytesView)) else { return nil }
        guard buffer.readableBytes >= total else { return nil }
        buffer.moveReaderIndex(forwardBy: total)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let parts = lines.first?.split(separator: " ") ?? []
        let method = parts.first.map(String.init) ?? ""
        let path = parts.count > 1 ? String(parts[1]) : "/"
        let id = Self.header("x-request-id", in: lines) ?? path
        let closes = Self.header("connection", in: lines)?.lowercased() == "close"
        return Request(method: method, path: path, id: id, closes: closes)
    }

    /// True once `bytes` hold one whole response (head and `Content-Length` body).
    @Sendable package static func isCompleteResponse(_ bytes: [UInt8]) -> Bool {
        Self.completeMessages(in: bytes) >= 1
    }

    /// How many whole messages (head and `Content-Length` body) `bytes` hold, in a row.
    package static func completeMessages(in bytes: [UInt8]) -> Int {
        var count = 0
        var rest = ArraySlice(bytes)
        while let (_, total) = Self.split(Array(rest)), rest.count >= total {
            count += 1
            rest = rest.dropFirst(total)
        }
        return count
    }

    /// The head (as text) and the whole message's length, once the head is complete.
    private static func split(_ bytes: [UInt8]) -> (String, Int)? {
        let end: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let index = (0...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == end }) else {
            return nil
        }
        let head = String(decoding: bytes[..<index], as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let length = Self.header("content-length", in: lines).flatMap { Int($0) } ?? 0
        return (head, index + 4 + length)
    }

    private static func header(_ name: String, in lines: [Substring]) -> String? {
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].lowercased() == name {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
