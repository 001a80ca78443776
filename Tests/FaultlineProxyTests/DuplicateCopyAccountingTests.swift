import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

/// A copy of a duplicated request travels on an upstream connection of its own, so the
/// client's connection can be over (both its sockets closed) while a copy is still on
/// its way. The log must still say every copy the server got: `conn_close` waits for
/// the connection's copies to settle, counts every copy written in
/// `duplicated_upstream`, and stays the connection's last event (every
/// `duplicate_reply` before it), at shutdown too.
@Suite(.timeLimit(.minutes(1)))
struct DuplicateCopyAccountingTests {
    /// An HTTP server that answers the first connection it accepts (the client's own
    /// upstream connection, dialled when the client connected, long before any copy's)
    /// at once, and every other connection (the copies') only once the test opens the
    /// gate: a deliberately slow server, the subject of these tests.
    final class SlowCopyServer: Sendable {
        struct State: Sendable {
            var accepted = 0
            /// Whole requests read, on every connection.
            var requests = 0
            /// Bytes read, on every connection.
            var bytes = 0
            /// The client's upstream connection ended (the proxy closed it).
            var mainEnded = false
            var gateOpen = false
        }

        private struct Waiter {
            var token: Int
            var isReady: @Sendable (State) -> Bool
            var continuation: CheckedContinuation<Void, Never>
        }

        private struct Box {
            var state = State()
            var waiters: [Waiter] = []
            var nextToken = 0
            var cancelled: Set<Int> = []
        }

        private let box = Mutex(Box())
        private let server = Mutex<TestServer?>(nil)

        var port: Int { self.server.withLock { $0?.port ?? 0 } }
        var state: State { self.box.withLock { $0.state } }

        static let reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

        static func start() async throws -> SlowCopyServer {
            let slow = SlowCopyServer()
            let server = try await TestServer.start { connection in
                let ordinal = slow.update { state -> Int in
                    state.accepted += 1
                    return state.accepted
                }
                try await connection.executeThenClose { inbound, outbound in
                    var received: [UInt8] = []
                    var answered = 0
                    for try await chunk in inbound {
                        received += Array(chunk.readableBytesView)
                        slow.update { $0.bytes += chunk.readableBytes }
                        let whole = HTTPTestMessage.completeMessages(in: received)
                        while answered < whole {
                            answered += 1
                            slow.update { $0.requests += 1 }
                            if ordinal != 1 { await slow.wait { $0.gateOpen } }
                            try await outbound.write(ByteBuffer(string: Self.reply))
                        }
                    }
                    if ordinal == 1 { slow.update { $0.mainEnded = true } }
                    try await TestServer.finishAfterFlush(connection, outbound)
                }
            }
            slow.server.withLock { $0 = server }
            return slow
        }

        struct Stuck: Error, CustomStringConvertible {
            var state: State
            var error: any Error
            var description: String { "\(self.error) in state \(self.state)" }
        }

        func openGate() {
            self.update { $0.gateOpen = true }
        }

        /// Awaits `isReady` for at most 20 s: a broken proxy fails the test, never hangs it.
        func awaitState(_ isReady: @escaping @Sendable (State) -> Bool) async throws {
            do {
                try await withTimeout(.seconds(20)) { await self.wait(until: isReady) }
            } catch {
                throw Stuck(state: self.state, error: error)
            }
        }

        func stop() async {
            self.openGate()
            await self.server.withLock { $0 }?.stop()
        }

        @discardableResult
        private func update<T>(_ change: (inout State) -> T) -> T {
            let (result, ready) = self.box.withLock { box -> (T, [CheckedContinuation<Void, Never>]) in
                let result = change(&box.state)
                let state = box.state
                let ready = box.waiters.filter { $0.isReady(state) }
                box.waiters.removeAll { $0.isReady(state) }
                return (result, ready.map(\.continuation))
            }
            ready.forEach { $0.resume() }
            return result
        }

        /// Returns once `isReady` holds, or when the task is cancelled.
        private func wait(until isReady: @escaping @Sendable (State) -> Bool) async {
            let token = self.box.withLock { box -> Int in
                box.nextToken += 1
                return box.nextToken
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let done = self.box.withLock { box -> Bool in
                        if isReady(box.state) || box.cancelled.contains(token) { return true }
                        box.waiters.append(Waiter(token: token, isReady: isReady, continuation: continuation))
                        return false
                    }
                    if done { continuation.resume() }
                }
            } onCancel: {
                let waiter = self.box.withLock { box -> Waiter? in
                    guard let index = box.waiters.firstIndex(where: { $0.token == token }) else {
                        box.cancelled.insert(token)
                        return nil
                    }
                    return box.waiters.remove(at: index)
                }
                waiter?.continuation.resume()
            }
        }
    }

    static let http = FramingConfiguration(kind: .http)
    static let request = HTTPTestMessage.request("POST", "/orders", id: "order-1", key: "k-1", body: "{\"qty\":1}")

    /// A profile (framing http) whose one rule duplicates every request.
    static func plan(_ fault: String) throws -> FaultPlan {
        let text = """
            faultline: 1
            name: copies
            description: duplicate every request
            framing: http
            rules:
              - {name: again, match: {direction: upstream}, fault: \(fault)}

            """
        return FaultPlan(profile: try ProfileLoader(library: []).load(text: text, file: "copies.yaml"), seed: 3)
    }

    /// The first event that `matches`, awaited for at most 20 s.
    static func event(_ events: AwaitableEventSink, _ matches: @escaping @Sendable (Event) -> Bool) async throws -> Event {
        try await withTimeout(.seconds(20)) { try await events.first(where: matches) }
    }

    /// One request on a new connection, sent once the proxy's upstream connection for
    /// it reached the server (so the server knows that connection as the client's, and
    /// every later one as a copy's); the connection closes once the reply is whole.
    /// The request sent through a proxy whose rule is `fault`, in front of a
    /// `SlowCopyServer`; `during` runs before the proxy stops. Returns the reply, the log
    /// as it stood once the proxy had stopped, and the server (stopped).
    static func callThroughCopies(
        _ fault: String, during: (SlowCopyServer, AwaitableEventSink) async throws -> Void
    ) async throws -> (reply: String, log: [Event], server: SlowCopyServer) {
        let server = try await SlowCopyServer.start()
        let events = AwaitableEventSink()
        let reply = try await withProxy(upstreamPort: server.port, events: events, faults: try Self.plan(fault), framing: Self.http) { _, port in
            let reply = try await Self.call(port, server)
            try await during(server, events)
            return reply
        }
        let log = events.events
        await server.stop()
        return (reply, log, server)
    }

    static func call(_ port: Int, _ server: SlowCopyServer) async throws -> String {
        let connection = try await TestClient.connect(port: port)
        return try await connection.executeThenClose { inbound, outbound in
            try await server.awaitState { $0.accepted >= 1 }
            try await outbound.write(ByteBuffer(string: Self.request))
            var received: [UInt8] = []
            for try await chunk in inbound {
                received += Array(chunk.readableBytesView)
                if HTTPTestMessage.isCompleteResponse(received) { break }
            }
            return String(decoding: received, as: UTF8.self)
        }
    }

    /// What the log says about the connection's copies, and that it says it in order:
    /// every `duplicate_reply` of connection 0 before its `conn_close`, and that before
    /// `proxy_stop`.
    static func expectInOrder(_ events: [Event], sourceLocation: SourceLocation = #_sourceLocation) {
        let types = events.filter { $0.conn == 0 || $0.type == .proxyStop }.map(\.type)
        let close = types.firstIndex(of: .connectionClose)
        let stop = types.firstIndex(of: .proxyStop)
        let lastCopy = types.lastIndex(of: .duplicateReply)
        #expect(close != nil && stop != nil && lastCopy != nil, "\(types)", sourceLocation: sourceLocation)
        guard let close, let stop, let lastCopy else { return }
        #expect(lastCopy < close, "a copy's event after its connection's conn_close: \(types)", sourceLocation: sourceLocation)
        #expect(close == types.count - 2 && stop == types.count - 1, "conn_close is the connection's last event: \(types)", sourceLocation: sourceLocation)
    }

    /// The client has its reply and is gone, and the proxy closed the client's upstream
    /// connection, while the server still holds the first copy's reply; the second copy
    /// waits for it (HTTP carries one copy at a time). Once the server answers, the
    /// second copy goes to the server: `conn_close` counts both, as the server does.
    @Test func aCopyWrittenAfterTheClientLeftIsCountedInItsConnectionsClose() async throws {
        let size = Self.request.utf8.count
        let (reply, log, server) = try await Self.callThroughCopies("{kind: duplicate, copies: 2}") { server, events in
            // The client's connection is over on both sides; the first copy is at the
            // server, which holds its reply.
            try await server.awaitState { $0.mainEnded && $0.requests >= 2 }
            server.openGate()
            try await server.awaitState { $0.requests == 3 }
            _ = try await Self.event(events) { $0.type == .connectionClose }
        }

        #expect(reply == SlowCopyServer.reply)
        let copies = log.filter { $0.type == .duplicateReply }
        #expect(copies.count == 2 && copies.allSatisfy { $0.status == 200 && $0.reason == nil }, "\(copies)")
        let close = try #require(log.first { $0.type == .connectionClose })
        // The server read the original and both copies; the log says so.
        #expect(server.state.requests == 3)
        #expect(close.duplicatedUpstream == 2 * size, "duplicated_upstream \(close.duplicatedUpstream ?? 0), two copies of \(size) bytes went")
        #expect(server.state.bytes == (close.bytesToUpstream ?? 0) + (close.duplicatedUpstream ?? 0))
        Self.expectInOrder(log)
        #expect(Accounting.check(log) == [])
        let summary = LogSummary(events: log)
        #expect(summary.duplicatedUpstream == 2 * size && summary.accounting == [])
    }

    /// The proxy stops while the server holds the first copy's reply: its grace over,
    /// it ends the copy (sent, no reply) and the copy waiting behind it (never sent),
    /// records both, then the connection's close, then `proxy_stop`.
    @Test func shutdownEndsTheCopiesInFlightAndRecordsThemBeforeTheClose() async throws {
        let size = Self.request.utf8.count
        let (reply, stopped, server) = try await Self.callThroughCopies("{kind: duplicate, copies: 2}") { server, _ in
            try await server.awaitState { $0.mainEnded && $0.requests >= 2 }
        }

        #expect(reply == SlowCopyServer.reply)
        let copies = stopped.filter { $0.type == .duplicateReply }
        #expect(copies.map { $0.params?["copy"] } == ["1", "2"], "\(copies)")
        #expect(copies.first?.params?["sent"] == nil && copies.first?.reason != nil && copies.first?.bytes == nil, "the first copy was sent and got no reply")
        #expect(copies.last?.params?["sent"] == "false", "the second copy never went")
        let close = try #require(stopped.first { $0.type == .connectionClose })
        #expect(close.duplicatedUpstream == size)
        #expect(close.reason == "closed" && close.closedBy == "client", "the client ended it, not the shutdown")
        #expect(server.state.requests == 2, "the original and the first copy")
        #expect(server.state.bytes == (close.bytesToUpstream ?? 0) + (close.duplicatedUpstream ?? 0))
        Self.expectInOrder(stopped)
        #expect(Accounting.check(stopped) == [])
    }

    /// A copy due `gap` after its original is still to come when the proxy stops: it
    /// is not sent after `proxy_stop` (nothing may happen that the log does not
    /// record); its event says it was not sent, before the connection's close.
    @Test func aCopyNotYetDueAtShutdownIsRecordedAsNotSent() async throws {
        let (reply, stopped, server) = try await Self.callThroughCopies("{kind: duplicate, gap: 30s}") { server, _ in
            try await server.awaitState { $0.mainEnded }
        }

        #expect(reply == SlowCopyServer.reply)
        let copies = stopped.filter { $0.type == .duplicateReply }
        #expect(copies.count == 1 && copies.first?.params?["sent"] == "false", "\(copies)")
        let close = try #require(stopped.first { $0.type == .connectionClose })
        #expect((close.duplicatedUpstream ?? 0) == 0)
        #expect(server.state.requests == 1)
        Self.expectInOrder(stopped)
        #expect(Accounting.check(stopped) == [])
    }

    /// The accounting check reads copies as the log says them: a `conn_close` that
    /// counts fewer copies than its `duplicate_reply` events say were sent, or a copy's
    /// event after its connection's close (the log before this fix), is a violation.
    @Test func theAccountingCheckComparesCopiesWithTheirConnectionsClose() {
        func event(_ type: Event.Kind, _ change: (inout Event) -> Void = { _ in }) -> Event {
            var event = Event(type)
            event.proxy = "p"
            event.conn = 0
            change(&event)
            return event
        }
        func copy(_ number: Int, sent: Bool = true) -> Event {
            event(.duplicateReply) {
                $0.unit = 0
                $0.params = ["copy": String(number), "request_bytes": "10"]
                if !sent { $0.params?["sent"] = "false" }
            }
        }
        let close = event(.connectionClose) {
            $0.bytesFromClient = 10
            $0.bytesToUpstream = 10
            $0.bytesFromUpstream = 4
            $0.bytesToClient = 4
            $0.droppedUpstream = 0
            $0.droppedDownstream = 0
            $0.duplicatedUpstream = 10
        }
        let open = event(.connectionOpen)
        #expect(Accounting.check([open, copy(1), copy(2, sent: false), close]) == [])
        let late = Accounting.check([open, copy(1), close, copy(2)]).map(\.description)
        #expect(late == ["proxy p conn 0 upstream: a copy's duplicate_reply (unit 0, copy 2) comes after the connection's conn_close, whose duplicated_upstream cannot count it"])
        let under = Accounting.check([open, copy(1), copy(2), close]).map(\.description)
        #expect(under == ["proxy p conn 0 upstream: duplicated_upstream says 10 bytes of copies, but its duplicate_reply events say 20 were sent"])
        let summary = LogSummary(events: [open, copy(1), copy(2, sent: false), close])
        #expect(summary.text.contains("copies:       1 sent (10 bytes), 1 not sent"), "\(summary.text)")
    }
}
