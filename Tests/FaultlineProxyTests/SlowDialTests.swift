#if canImport(Glibc)
import Glibc
#endif
import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import Logging
import NIOCore
import NIOPosix
import Testing

/// A connection whose upstream is slow to dial, or never dialled: it still has its
/// `conn_open` (first, with the client's address) and its `conn_close`, its books
/// balance, and a `respond` rule answers without waiting for the upstream.
@Suite(.timeLimit(.minutes(1)))
struct SlowDialTests {
    static let reply503 = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
    static let post = "POST /orders HTTP/1.1\r\nHost: shop\r\nContent-Length: 2\r\n\r\nhi"

    /// A profile (framing http) answering every request with 503, or `rules` instead.
    static func plan(_ rules: String = "  - {name: down, match: {direction: upstream}, fault: {kind: respond, status: 503}}\n") throws -> FaultPlan {
        let text = "faultline: 1\nname: down\ndescription: slow dial test\nframing: http\nrules:\n" + rules
        return FaultPlan(profile: try ProfileLoader(library: []).load(text: text, file: "down.yaml"), seed: 7)
    }

    /// The connection's events, checked for what every connection must have: one
    /// `conn_open` before anything else of it, naming the client and the upstream, and
    /// one `conn_close` after everything else; and books that balance.
    static func expectWholeRecord(_ events: [Event], conn: UInt64, upstreamPort: Int) throws -> Event {
        let own = events.filter { $0.conn == conn && $0.type != .proxyStart && $0.type != .proxyStop }
        #expect(own.first?.type == .connectionOpen, "first event: \(own.first?.type.rawValue ?? "none")")
        #expect(own.last?.type == .connectionClose, "last event: \(own.last?.type.rawValue ?? "none")")
        #expect(own.filter { $0.type == .connectionOpen }.count == 1)
        #expect(own.filter { $0.type == .connectionClose }.count == 1)
        let open = try #require(own.first { $0.type == .connectionOpen })
        #expect(open.client?.hasPrefix("127.0.0.1:") == true, "client: \(open.client ?? "none")")
        #expect(open.upstream == "127.0.0.1:\(upstreamPort)")
        #expect(Accounting.check(events) == [])
        return try #require(own.first { $0.type == .connectionClose })
    }

    static func awaitClose(_ events: AwaitableEventSink, conn: UInt64 = 0) async throws -> Event {
        try await withTimeout(.seconds(30)) {
            try await events.first { $0.type == .connectionClose && $0.conn == conn }
        }
    }

    /// The trial's case: the upstream never answers the SYN, and every request is
    /// answered with 503 by the proxy. The client gets its 503 while the dial (up to a
    /// minute) is still going on, and when it leaves the dial is given up and the
    /// connection closed in the log.
    @Test func respondAnswersWhileTheUpstreamIsStillDialled() async throws {
        let silent = try await SilentUpstream()
        defer { silent.close() }
        let events = AwaitableEventSink()
        let (reply, erredMeanwhile) = try await withProxy(
            upstreamPort: silent.port, events: events, faults: try Self.plan(), framing: .init(kind: .http)
        ) { _, port in
            let client = try await TestClient.connect(port: port)
            let result = try await client.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: Self.post))
                var iterator = inbound.makeAsyncIterator()
                // The suite's time limit (1 min) bounds it, as the proxy's dial timeout
                // does (60 s): were the reply to wait for the dial, `erred` would say so.
                let reply = try await TestClient.read(atLeast: Self.reply503.utf8.count, from: &iterator)
                let erred = events.events.contains { $0.type == .upstreamError }
                // Leaves with RST: the proxy cannot mistake it for a half-close.
                resetAndClose(client.channel)
                return (String(buffer: reply), erred)
            }
            _ = try await Self.awaitClose(events)
            return result
        }
        #expect(reply == Self.reply503)
        #expect(!erredMeanwhile, "the reply came only after the dial failed")
        let all = events.events
        let close = try Self.expectWholeRecord(all, conn: 0, upstreamPort: silent.port)
        #expect(close.closedBy == "client")
        #expect(close.reason == "client_reset")
        #expect(close.injectedDownstream == Self.reply503.utf8.count)
        #expect(close.bytesFromClient == Self.post.utf8.count)
        #expect(close.droppedUpstream == Self.post.utf8.count)
        #expect(close.bytesToUpstream == 0)
        // The client left first: the dial was given up, not failed.
        #expect(all.filter { $0.type == .upstreamError }.isEmpty)
        #expect(all.filter { $0.type == .fault }.map(\.action) == ["respond"])
    }

    /// A client whose upstream never answers the SYN: it sends (`send`), then reads to
    /// the end. The proxy dials for 2 s, the subject of these tests rather than a wait:
    /// the dial must end by its own timeout. Checks what every such connection must
    /// show (nothing received, the whole record, the timeout as the `upstream_error`,
    /// `upstream_unreachable` as the close's reason) and returns its `conn_close`.
    static func timedOutDial(
        framing: FramingConfiguration = .raw,
        send: @escaping @Sendable (NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws -> Void
    ) async throws -> Event {
        let silent = try await SilentUpstream()
        defer { silent.close() }
        let events = AwaitableEventSink()
        let proxy = TCPProxy(
            configuration: TCPProxyConfiguration(
                name: "test",
                listen: HostPort(host: "127.0.0.1", port: 0),
                upstream: HostPort(host: "127.0.0.1", port: silent.port),
                connectTimeout: .seconds(2),
                framing: framing
            ),
            group: MultiThreadedEventLoopGroup.singleton,
            events: events,
            logger: Logger(label: "faultline.test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let port = try await proxy.start().port!
        let client = try await TestClient.connect(port: port)
        let received = try await client.executeThenClose { inbound, outbound in
            try await send(outbound)
            return try await withTimeout(.seconds(30)) { try await TestClient.readAll(inbound).readableBytes }
        }
        let close = try await Self.awaitClose(events)
        await proxy.shutdown(grace: .seconds(1))
        #expect(received == 0)
        let all = events.events
        _ = try Self.expectWholeRecord(all, conn: 0, upstreamPort: silent.port)
        let error = try #require(all.first { $0.type == .upstreamError })
        #expect(error.reason == "no answer within 2s")
        #expect(close.reason == "upstream_unreachable")
        return close
    }

    /// A dial that times out after the client's request was read: the request is
    /// dropped (in the books), the connection is closed with the dial's failure as its
    /// reason, and both its open and close are in the log.
    @Test func aDialThatTimesOutStillOpensAndClosesTheConnection() async throws {
        let close = try await Self.timedOutDial(framing: .init(kind: .http)) { outbound in
            try await outbound.write(ByteBuffer(string: Self.post))
        }
        #expect(close.closedBy == "upstream")
        #expect(close.bytesToUpstream == 0)
        #expect((close.bytesFromClient ?? 0) == (close.droppedUpstream ?? 0), "\(close)")
        #expect(close.injectedDownstream == nil)
    }

    /// A client that sends its end (FIN) at once, while its upstream is still being
    /// dialled: the end waits for the upstream, and the dial goes on until its own
    /// timeout. (Passed on at once, the end shut down a socket not yet connected, which
    /// failed and ended the dial with a reset as its `upstream_error`: the upstream
    /// never saw the connection.)
    @Test func aClientsEndDuringTheDialWaitsForTheUpstream() async throws {
        _ = try await Self.timedOutDial { outbound in outbound.finish() }
    }

    /// Nothing listens upstream (the dial is refused at once), yet a proxy told to
    /// answer 503 answers every request on a kept-alive connection, until the client
    /// asks for something only the upstream could give: then it closes.
    @Test func aRefusedUpstreamStillLetsRespondAnswer() async throws {
        let refusing = try EndingsTests.portWithNobodyListening()
        defer { withExtendedLifetime(refusing) {} }
        let deadPort = refusing.port
        let events = AwaitableEventSink()
        let plan = try Self.plan("  - {name: down, match: {direction: upstream, path: /orders}, fault: {kind: respond, status: 503}}\n")
        let (replies, rest) = try await withProxy(upstreamPort: deadPort, events: events, faults: plan, framing: .init(kind: .http)) { _, port in
            let client = try await TestClient.connect(port: port)
            let result = try await client.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                var replies: [String] = []
                for _ in 0..<2 {
                    try await outbound.write(ByteBuffer(string: Self.post))
                    let reply = try await TestClient.read(atLeast: Self.reply503.utf8.count, from: &iterator)
                    replies.append(String(buffer: reply))
                }
                // Not answered by the rule: it needs the upstream, which is not there.
                try await outbound.write(ByteBuffer(string: "GET /stock HTTP/1.1\r\nHost: shop\r\n\r\n"))
                var rest = ByteBuffer()
                while var chunk = try await iterator.next() { rest.writeBuffer(&chunk) }
                return (replies, rest.readableBytes)
            }
            _ = try await Self.awaitClose(events)
            return result
        }
        #expect(replies == [Self.reply503, Self.reply503])
        #expect(rest == 0)
        let all = events.events
        let close = try Self.expectWholeRecord(all, conn: 0, upstreamPort: deadPort)
        #expect(all.filter { $0.type == .upstreamError }.count == 1)
        #expect(close.reason == "upstream_unreachable")
        #expect(close.closedBy == "upstream")
        #expect(close.injectedDownstream == 2 * Self.reply503.utf8.count)
        #expect(close.bytesToUpstream == 0)
        #expect((close.bytesFromClient ?? 0) == (close.droppedUpstream ?? 0), "\(close)")
    }

    /// A client that leaves (with RST) while its upstream is still being dialled,
    /// having sent a few bytes: its connection is opened and closed in the log all the
    /// same, the bytes dropped.
    @Test func aClientThatLeavesDuringASlowDialIsClosedInTheLog() async throws {
        let silent = try await SilentUpstream()
        defer { silent.close() }
        let events = AwaitableEventSink()
        try await withProxy(upstreamPort: silent.port, events: events) { _, port in
            let client = try await TestClient.connect(port: port)
            _ = try await withTimeout(.seconds(30)) {
                try await events.first { $0.type == .connectionOpen && $0.conn == 0 }
            }
            try await client.executeThenClose { _, outbound in
                try await outbound.write(ByteBuffer(string: "hello"))
                resetAndClose(client.channel)
            }
            _ = try await Self.awaitClose(events)
        }
        let all = events.events
        let close = try Self.expectWholeRecord(all, conn: 0, upstreamPort: silent.port)
        #expect(close.closedBy == "client")
        #expect(close.bytesToUpstream == 0)
        #expect((close.bytesFromClient ?? 0) == (close.droppedUpstream ?? 0), "\(close)")
        #expect(all.filter { $0.type == .upstreamError }.isEmpty)
    }
}

/// An upstream that never answers a SYN: a socket listening with a backlog of 0 that
/// never accepts (NIO reads nothing from it), its queue filled by connections nobody
/// accepts, so the kernel drops further SYNs and a dial to it hangs until its timeout.
final class SilentUpstream: Sendable {
    let port: Int
    private let listener: any Channel
    private let fillers: [Int32]

    init() async throws {
        self.listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 0)
            .serverChannelOption(.autoRead, value: false)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        self.port = self.listener.localAddress!.port!
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: self.port)
        // Non-blocking connects: the first ones fill the queue, the later ones wait
        // for a SYN-ACK that never comes, as the proxy's dial will.
        var fillers: [Int32] = []
        for _ in 0..<3 {
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = address.withSockAddr { pointer, size in Glibc.connect(filler, pointer, socklen_t(size)) }
            fillers.append(filler)
        }
        self.fillers = fillers
    }

    func close() {
        for filler in self.fillers { Glibc.close(filler) }
        self.listener.close(promise: nil)
    }
}
