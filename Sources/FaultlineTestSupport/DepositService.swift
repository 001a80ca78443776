import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// An HTTP/1.1 deposit service on `127.0.0.1:0` for replay tests, in one of the ways
/// real services handle (or mishandle) an `Idempotency-Key`.
///
///     POST /accounts/{id}/deposits  {"amount":10,"memo":"rent"}   → 201 {"id":7,"amount":10,"balance":110,"created_at":...}
///     GET  /accounts/{id}                                          → 200 {"id":1,"balance":110}
///     GET  /health                                                 → 200 {"status":"ok","uptime_ms":11496449}
///
/// One balance for every account (enough for a probe). Every reply carries a fresh
/// `X-Request-Id` and every deposit a `created_at`, so a saved answer replayed differs
/// from a recomputed one only where it should. `received`
/// counts requests of any kind (a dry run must leave it at zero).
package final class DepositService: Sendable {
    package enum Behaviour: String, Sendable, CaseIterable {
        /// Applies every deposit, key or not.
        case naive
        /// Reserves the key before the work (duplicates in flight get 409), replays the
        /// saved answer, answers a changed payload with 422.
        case deduplicating
        /// Like `deduplicating`, but checks the key and stores it in two steps with the
        /// work in between: concurrent duplicates all miss and all apply.
        case racing
        /// Deduplicates correctly under concurrency, but by key alone: a changed payload
        /// with a used key gets the first answer (201), never 422.
        case ignoresPayload = "ignores-payload"
    }

    private struct Saved: Sendable {
        var body: String
        /// Nil while the first request with the key is in flight.
        var reply: String?
    }

    private struct State: Sendable {
        var balance = 100
        var deposits = 0
        var nextID = 1
        var received = 0
        var saved: [String: Saved] = [:]
        var clock = 0
    }

    package let behaviour: Behaviour
    /// How long a deposit's work takes (the window `racing` loses in).
    package let work: Duration
    private let state = Mutex(State())
    private let server = Mutex<TestServer?>(nil)

    package var port: Int { self.server.withLock { $0?.port ?? 0 } }
    package var balance: Int { self.state.withLock { $0.balance } }
    package var deposits: Int { self.state.withLock { $0.deposits } }
    package var received: Int { self.state.withLock { $0.received } }

    private init(behaviour: Behaviour, work: Duration) {
        self.behaviour = behaviour
        self.work = work
    }

    package static func start(_ behaviour: Behaviour, work: Duration = .milliseconds(150)) async throws -> DepositService {
        let service = DepositService(behaviour: behaviour, work: work)
        let server = try await TestServer.http { Array(await service.answer($0).utf8) }
        service.server.withLock { $0 = server }
        return service
    }

    package func stop() async {
        let server = self.server.withLock { $0 }
        await server?.stop()
    }

    private func answer(_ request: TestHTTPRequest) async -> String {
        self.state.withLock { $0.received += 1 }
        let parts = request.path.split(separator: "/")
        switch (request.method, parts.count) {
        case ("GET", 1) where parts[0] == "health":
            // An uptime that moves unevenly from one request to the next, as a clock
            // does: not a count of anything the requests did.
            let received = self.received
            return Self.reply(200, "{\"status\":\"ok\",\"uptime_ms\":\(11_496_000 + received * received)}")
        case ("GET", 2) where parts[0] == "accounts":
            let balance = self.balance
            return Self.reply(200, "{\"id\":\(parts[1]),\"balance\":\(balance)}")
        case ("POST", 3) where parts[0] == "accounts" && parts[2] == "deposits":
            return await self.deposit(request)
        default:
            return Self.reply(404, "{\"error\":{\"message\":\"no route\"}}")
        }
    }

    private func deposit(_ request: TestHTTPRequest) async -> String {
        guard let json = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any],
            let amount = (json["amount"] as? NSNumber)?.intValue
        else { return Self.reply(400, "{\"error\":{\"message\":\"say {\\\"amount\\\":N}\"}}") }
        let body = String(decoding: request.body, as: UTF8.self)
        guard let key = request.header("idempotency-key"), self.behaviour != .naive else {
            try? await Task.sleep(for: self.work)
            return self.apply(amount)
        }
        enum Lookup { case replay(String), conflict, mismatch, miss }
        let checksPayload = self.behaviour != .ignoresPayload
        let reserves = self.behaviour != .racing
        let lookup = self.state.withLock { state -> Lookup in
            if let saved = state.saved[key] {
                if checksPayload, saved.body != body { return .mismatch }
                guard let reply = saved.reply else { return .conflict }
                return .replay(reply)
            }
            if reserves { state.saved[key] = Saved(body: body, reply: nil) }
            return .miss
        }
        switch lookup {
        case .replay(let reply): return reply
        case .conflict: return Self.reply(409, "{\"error\":{\"message\":\"a request with this key is in flight\"}}")
        case .mismatch: return Self.reply(422, "{\"error\":{\"message\":\"key reused with another payload\"}}")
        case .miss: break
        }
        try? await Task.sleep(for: self.work)
        let reply = self.apply(amount)
        self.state.withLock { $0.saved[key] = Saved(body: body, reply: reply) }
        return reply
    }

    private func apply(_ amount: Int) -> String {
        let (id, balance, clock) = self.state.withLock { state in
            state.balance += amount
            state.deposits += 1
            state.nextID += 1
            state.clock += 1
            return (state.nextID - 1, state.balance, state.clock)
        }
        return Self.reply(201, "{\"id\":\(id),\"amount\":\(amount),\"balance\":\(balance),\"created_at\":\"2026-12-06T00:00:\(clock)Z\"}")
    }

    private static func reply(_ status: Int, _ body: String) -> String {
        let reason = [200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Content"][status] ?? "Status"
        return "HTTP/1.1 \(status) \(reason)\r\nContent-Type: application/json\r\nX-Request-Id: \(UUID().uuidString)\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }
}

/// A whole HTTP/1.1 request (head and `Content-Length` body) taken from received bytes.
struct TestHTTPRequest {
    var method: String
    var path: String
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        self.headers.first { $0.0.lowercased() == name }?.1
    }

    static func take(from bytes: inout [UInt8]) -> TestHTTPRequest? {
        guard bytes.count >= 4, let end = (0...(bytes.count - 4)).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 && bytes[$0 + 2] == 13 && bytes[$0 + 3] == 10 })
        else { return nil }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let start = lines[0].split(separator: " ")
        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let length = Int(headers.first { $0.0 == "content-length" }?.1 ?? "0") ?? 0
        guard bytes.count >= end + 4 + length else { return nil }
        let body = Array(bytes[(end + 4)..<(end + 4 + length)])
        bytes.removeFirst(end + 4 + length)
        var key = headers.first { $0.0 == "idempotency-key" }?.1
        if let quoted = key, quoted.hasPrefix("\""), quoted.hasSuffix("\""), quoted.count >= 2 { key = String(quoted.dropFirst().dropLast()) }
        if let key, let index = headers.firstIndex(where: { $0.0 == "idempotency-key" }) { headers[index].1 = key }
        return TestHTTPRequest(
            method: start.first.map(String.init) ?? "",
            path: start.count > 1 ? String(start[1].split(separator: "?").first ?? "/") : "/",
            headers: headers,
            body: body
        )
    }
}
