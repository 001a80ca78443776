import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

/// `duplicate-delivery` on a long-lived connection carrying many small messages: the
/// copies share one extra upstream connection, and the log says what happened to each.
@Suite(.timeLimit(.minutes(1)))
struct DuplicateLaneTests {
    /// Line framing with no bound on how long a line may stay incomplete: these tests
    /// are about the copies, and on a loaded machine the second half of a line can come
    /// more than the default 2 s after its first. The framer then falls back to raw as
    /// `--max-hold` says, and the requests after it are no longer copied (seen at 63 and
    /// at 195 of 1,500 copies in full runs, once traced).
    static let line = FramingConfiguration(kind: .line, limits: FramingLimits(maxHoldNanoseconds: nil))

    /// A line echo server that counts the connections it accepted, the most open at
    /// once and the lines it read, and reports each connection's end. With
    /// `dropCopies`, only the first connection to send anything is served; every other
    /// (the copies') is closed as soon as its first bytes arrive, unanswered.
    final class CountingLineServer: Sendable {
        private let counts = Mutex((connections: 0, open: 0, mostOpen: 0, lines: 0, main: nil as Int?))
        private let server = Mutex<TestServer?>(nil)
        let ended: AsyncStream<Void>
        private let endedContinuation: AsyncStream<Void>.Continuation

        var port: Int { self.server.withLock { $0?.port ?? 0 } }
        var connections: Int { self.counts.withLock { $0.connections } }
        var mostOpen: Int { self.counts.withLock { $0.mostOpen } }
        var lines: Int { self.counts.withLock { $0.lines } }

        private init() {
            (self.ended, self.endedContinuation) = AsyncStream<Void>.makeStream()
        }

        static func start(dropCopies: Bool = false) async throws -> CountingLineServer {
            let counting = CountingLineServer()
            let server = try await TestServer.start { connection in
                let ordinal = counting.counts.withLock { counts in
                    counts.connections += 1
                    counts.open += 1
                    counts.mostOpen = max(counts.mostOpen, counts.open)
                    return counts.connections
                }
                // Counted as closed before it is closed, so the proxy cannot see the
                // close and open the next one before the count has dropped.
                let closing = Mutex(false)
                let close = {
                    guard closing.withLock({ was in defer { was = true }; return !was }) else { return }
                    counting.counts.withLock { $0.open -= 1 }
                }
                defer {
                    close()
                    counting.endedContinuation.yield()
                }
                try await connection.executeThenClose { inbound, outbound in
                    for try await chunk in inbound {
                        let isMain = counting.counts.withLock { counts in
                            if counts.main == nil { counts.main = ordinal }
                            return counts.main == ordinal
                        }
                        if dropCopies && !isMain {
                            close()
                            return
                        }
                        let newlines = Self.newlines(in: chunk)
                        counting.counts.withLock { $0.lines += newlines }
                        try await outbound.write(chunk)
                    }
                }
            }
            counting.server.withLock { $0 = server }
            return counting
        }

        /// The newlines in `chunk`, found with `memchr`: counting byte by byte through
        /// `ByteBufferView` cost seconds of a debug build's CPU per flood, on the
        /// cooperative pool every other test needs.
        static func newlines(in chunk: ByteBuffer) -> Int {
            chunk.withUnsafeReadableBytes { bytes in
                guard var next = bytes.baseAddress else { return 0 }
                let end = next + bytes.count
                var count = 0
                while next < end, let found = memchr(next, 10, end - next) {
                    count += 1
                    next = UnsafeRawPointer(found) + 1
                }
                return count
            }
        }

        /// Waits until `count` connections have ended.
        func awaitEnded(_ count: Int) async throws {
            let ended = self.ended
            try await withTimeout(.seconds(30)) {
                var seen = 0
                for await _ in ended {
                    seen += 1
                    if seen == count { return }
                }
            }
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

        func record(_ event: consuming Event) {
            let event = event
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
    @Test
    func aFloodOfCopiesIsBoundedAndEveryCopyIsAccountedFor() async throws {
        let server = try await CountingLineServer.start()
        let sink = CopySink()
        // Beyond the copies that may wait (2 MiB at 2,512 bytes a copy, about 830), and
        // few enough to finish well inside the time limit on two loaded cores: a copy
        // costs about the same whatever its size, and 5,000 copies of 200 bytes could
        // take over a minute there.
        let count = 1_500
        let width = 2_000
        let request = Self.lines(count, width: width)
        let reply = try await withProxy(upstreamPort: server.port, events: sink, faults: try Self.shipped(), framing: Self.line) { _, port in
            try await Self.exchange(port, request, copies: count, sink: sink)
        }
        await server.stop()

        #expect(reply == String(decoding: request, as: UTF8.self))
        #expect(server.connections == 2, "upstream connections: \(server.connections)")
        #expect(sink.events.filter { $0.type == .framingFallback }.map(\.reason) == [], "a fallback ends the copies")
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

    /// Copies go on after the client's connection closed, then their connection closes
    /// too: nothing is left open upstream.
    @Test func theCopiesConnectionClosesOnceTheClientHasGoneAndNoCopyWaits() async throws {
        let server = try await CountingLineServer.start()
        let sink = CopySink()
        let request = Self.lines(50, width: 32)
        try await withProxy(upstreamPort: server.port, events: sink, faults: try Self.shipped(), framing: Self.line) { _, port in
            let reply = try await SocketClient.call(port: port, request: request, limit: .seconds(20)) { $0.count >= request.count }
            #expect(reply == .reply(String(decoding: request, as: UTF8.self)))
            try await sink.awaitCopies(50)
            // Both upstream connections end while the proxy still runs.
            try await server.awaitEnded(2)
        }
        await server.stop()
        #expect(server.connections == 2)
        #expect(sink.events.filter { $0.type == .duplicateReply }.allSatisfy { $0.reason == nil && $0.bytes == 32 })
    }

    /// An upstream that closes every copy's connection unanswered: the lane dials again
    /// for the copies still waiting, one connection at a time, and no copy is logged
    /// with a reply it never got.
    @Test func aFailingCopyConnectionIsReplacedOneAtATimeAndEveryCopySaysWhatHappened() async throws {
        let server = try await CountingLineServer.start(dropCopies: true)
        let sink = CopySink()
        let count = 300
        let request = Self.lines(count, width: 24)
        // Every request but the first is copied: the first reaches the server alone, on
        // the client's upstream connection, which the server then knows as the one to serve.
        let text = """
            faultline: 1
            name: all-but-first
            description: every request but the first twice
            framing: line
            rules:
              - {name: twice, match: {direction: upstream, message: {skip: 1}}, fault: {kind: duplicate}}

            """
        let plan = FaultPlan(profile: try ProfileLoader(library: []).load(text: text, file: "all-but-first.yaml"), seed: 1)
        let reply = try await withProxy(upstreamPort: server.port, events: sink, faults: plan, framing: Self.line) { _, port in
            let connection = try await TestClient.connect(port: port)
            return try await connection.executeThenClose { inbound, outbound in
                // The first line's echo first: the client's upstream connection is then
                // the server's first, and every later one carries copies.
                var iterator = inbound.makeAsyncIterator()
                try await outbound.write(ByteBuffer(bytes: request[..<24]))
                var reply = try await TestClient.read(atLeast: 24, from: &iterator)
                try await outbound.write(ByteBuffer(bytes: request[24...]))
                var rest = try await TestClient.read(atLeast: request.count - 24, from: &iterator)
                reply.writeBuffer(&rest)
                try await sink.awaitCopies(count - 1)
                return String(buffer: reply)
            }
        }
        #expect(reply == String(decoding: request, as: UTF8.self))
        await server.stop()
        let copies = sink.events.filter { $0.type == .duplicateReply }
        #expect(copies.count == count - 1)
        #expect(Set(copies.compactMap(\.unit)) == Set(1..<UInt64(count)), "one event per copy")
        let answered = copies.filter { $0.bytes != nil || $0.reason == nil }
        #expect(answered.isEmpty, "no copy got a reply: \(answered.count), first \(String(describing: answered.first)), server connections \(server.connections)")
        // The client's connection and at most one copy connection at a time.
        #expect(server.mostOpen <= 2, "most upstream connections open at once: \(server.mostOpen)")
        #expect(server.connections >= 2)
        #expect(Accounting.check(sink.events) == [])
    }

    /// HTTP copies of a request that says `Connection: close`: each copy's connection
    /// carries that copy alone and is closed after its reply, and the next copy gets a
    /// new one, even once the client's connection has closed.
    @Test func httpCopiesAskingToCloseEachGetAConnectionInTurn() async throws {
        let server = try await CountingHTTPServer.start()
        let sink = CopySink()
        let text = """
            faultline: 1
            name: thrice
            description: three more copies of every request
            framing: http
            rules:
              - {name: thrice, match: {direction: upstream}, fault: {kind: duplicate, copies: 3}}

            """
        let plan = FaultPlan(profile: try ProfileLoader(library: []).load(text: text, file: "thrice.yaml"), seed: 1)
        let request = HTTPTestMessage.request("POST", "/orders", id: "c-1", body: "x")
            .replacingOccurrences(of: "Host: test\r\n", with: "Host: test\r\nConnection: close\r\n")
        let reply = try await withProxy(upstreamPort: server.port, events: sink, faults: plan, framing: FramingConfiguration(kind: .http)) { _, port in
            let reply = try await SocketClient.call(port: port, request: Array(request.utf8), limit: .seconds(20), isComplete: HTTPTestMessage.isCompleteResponse)
            try await sink.awaitCopies(3)
            return reply
        }
        await server.stop(afterServing: 4)
        guard case .reply(let text) = reply else {
            Issue.record("the client should get its reply, got \(reply)")
            return
        }
        #expect(text.contains("c-1 executed"))
        #expect(server.executions(of: "c-1") == 4, "the original and three copies")
        let copies = sink.events.filter { $0.type == .duplicateReply }
        #expect(copies.map { $0.params?["copy"] } == ["1", "2", "3"])
        #expect(copies.allSatisfy { $0.status == 200 && $0.reason == nil }, "\(copies.map { $0.reason })")
    }
}
