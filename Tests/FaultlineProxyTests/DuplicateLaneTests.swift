import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import NIOCore
import Synchronization
import Testing

/// `duplicate-delivery` on a long-lived connection carrying many small messages: the
/// copies share one extra upstream connection, and the log says what happened to each.
@Suite(.timeLimit(.minutes(1)))
struct DuplicateLaneTests {
    static let line = FramingConfiguration(kind: .line)

    /// A line echo server that counts the connections it accepted and the lines it read.
    final class CountingLineServer: Sendable {
        private let counts = Mutex((connections: 0, lines: 0))
        private let server = Mutex<TestServer?>(nil)

        var port: Int { self.server.withLock { $0?.port ?? 0 } }
        var connections: Int { self.counts.withLock { $0.connections } }
        var lines: Int { self.counts.withLock { $0.lines } }

        static func start() async throws -> CountingLineServer {
            let counting = CountingLineServer()
            let server = try await TestServer.start { connection in
                counting.counts.withLock { $0.connections += 1 }
                try await connection.executeThenClose { inbound, outbound in
                    for try await chunk in inbound {
                        let newlines = chunk.readableBytesView.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
                        counting.counts.withLock { $0.lines += newlines }
                        try await outbound.write(chunk)
                    }
                }
            }
            counting.server.withLock { $0 = server }
            return counting
        }

        func stop() async {
            await self.server.withLock { $0 }?.stop()
        }
    }

    /// Keeps every event, and hands each `duplicate_reply` to a stream as it comes.
    final class CopySink: EventSink {
        private let recorded = Mutex<[Event]>([])
        let copies: AsyncStream<Event>
        private let continuation: AsyncStream<Event>.Continuation

        init() {
            (self.copies, self.continuation) = AsyncStream<Event>.makeStream()
        }

        var events: [Event] { self.recorded.withLock { $0 } }

        func record(_ event: Event) {
            self.recorded.withLock { $0.append(event) }
            if event.type == .duplicateReply { self.continuation.yield(event) }
        }

        /// Waits (at most `limit`) for `count` copies' events.
        func awaitCopies(_ count: Int, limit: Duration = .seconds(45)) async throws {
            let copies = self.copies
            try await withTimeout(limit) {
                var seen = 0
                for await _ in copies {
                    seen += 1
                    if seen == count { return }
                }
            }
        }
    }

    static func shipped() throws -> FaultPlan {
        FaultPlan(profile: try ProfileLoader().load("duplicate-delivery"), seed: 15)
    }

    /// `count` lines of `width` bytes (newline included), each naming its number.
    static func lines(_ count: Int, width: Int) -> [UInt8] {
        (0..<count).flatMap { index -> [UInt8] in
            let label = Array("line \(index) ".utf8)
            return label + Array(repeating: UInt8(ascii: "x"), count: width - label.count - 1) + [10]
        }
    }

    /// Sends `request` on one connection through the proxy, reads as many bytes back,
    /// and keeps the connection open until `sink` has every copy's event (`conn_close`
    /// counts the copies written while the client's connection was open).
    static func exchange(_ port: Int, _ request: [UInt8], copies: Int, sink: CopySink) async throws -> String {
        let connection = try await TestClient.connect(port: port)
        return try await connection.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: request))
            // The suite's time limit guards both waits.
            var iterator = inbound.makeAsyncIterator()
            let reply = try await TestClient.read(atLeast: request.count, from: &iterator)
            try await sink.awaitCopies(copies)
            return String(buffer: reply)
        }
    }

    /// The copies the log says reached the upstream: a reply came, or the copy was
    /// written and then got none.
    static func sentCopies(_ events: [Event]) -> [Event] {
        events.filter { $0.type == .duplicateReply && $0.params?["sent"] != "false" }
    }

    @Test func twoThousandMessagesShareOneExtraUpstreamConnectionAndEveryCopyArrives() async throws {
        let server = try await CountingLineServer.start()
        let sink = CopySink()
        let count = 2_000
        let width = 16
        let request = Self.lines(count, width: width)
        let reply = try await withProxy(upstreamPort: server.port, events: sink, faults: try Self.shipped(), framing: Self.line) { _, port in
            try await Self.exchange(port, request, copies: count, sink: sink)
        }
        await server.stop()

        #expect(reply == String(decoding: request, as: UTF8.self), "the client gets its own replies, once each")
        // One connection for the client's, one for every copy: not one per copy.
        #expect(server.connections == 2, "upstream connections: \(server.connections)")
        let copies = sink.events.filter { $0.type == .duplicateReply }
        #expect(copies.count == count)
        #expect(Set(copies.compactMap(\.unit)) == Set((0..<UInt64(count))))
        // Under the bound nothing is left out: every copy reached the server and got its reply.
        let unanswered = copies.filter { $0.reason != nil || $0.bytes != width }
        #expect(unanswered.isEmpty, "\(unanswered.count) copies without a reply, first: \(String(describing: unanswered.first))")
        #expect(server.lines == count + Self.sentCopies(copies).count)
        let close = try #require(sink.events.first { $0.type == .connectionClose })
        #expect(close.duplicatedUpstream == count * width)
        #expect(Accounting.check(sink.events) == [])
    }

    /// More copies than may wait: whatever the timing, the log's account of each copy
    /// is the truth. Copies it says were sent are exactly the extra lines the server
    /// read; the others say why not; the upstream still sees two connections.
    @Test func aFloodOfCopiesIsBoundedAndEveryCopyIsAccountedFor() async throws {
        let server = try await CountingLineServer.start()
        let sink = CopySink()
        let count = 10_000
        let width = 200
        let request = Self.lines(count, width: width)
        let reply = try await withProxy(upstreamPort: server.port, events: sink, faults: try Self.shipped(), framing: Self.line) { _, port in
            try await Self.exchange(port, request, copies: count, sink: sink)
        }
        await server.stop()

        #expect(reply == String(decoding: request, as: UTF8.self))
        #expect(server.connections == 2, "upstream connections: \(server.connections)")
        let copies = sink.events.filter { $0.type == .duplicateReply }
        #expect(copies.count == count)
        #expect(Set(copies.compactMap(\.unit)).count == count, "one event per copy")
        let sent = Self.sentCopies(copies)
        let notSent = copies.filter { $0.params?["sent"] == "false" }
        #expect(sent.count + notSent.count == count)
        #expect(notSent.allSatisfy { $0.reason?.hasPrefix("not sent") == true && $0.bytes == nil })
        #expect(sent.allSatisfy { $0.reason == nil && $0.bytes == width }, "the echo answers every copy it got")
        #expect(server.lines == count + sent.count, "the server read exactly the copies the log says were sent")
        let close = try #require(sink.events.first { $0.type == .connectionClose })
        #expect((close.duplicatedUpstream ?? 0) == sent.count * width)
        #expect(Accounting.check(sink.events) == [])
    }
}
