import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import Logging
import Foundation
import NIOCore
import NIOPosix
import Testing

/// What the log records for `faultline check retries`, over real sockets: the attempt
/// of every request, which request each reply answers and when it began, Retry-After,
/// and at `conn_close` who closed first and what the client was left waiting for.
@Suite(.timeLimit(.minutes(1)))
struct RetryFactsTests {
    static let http = FramingConfiguration(kind: .http)

    static func call(_ port: Int, _ request: String, limit: Duration = .seconds(20)) async throws -> SocketClient.Reply {
        try await SocketClient.call(port: port, request: Array(request.utf8), limit: limit, isComplete: HTTPTestMessage.isCompleteResponse)
    }

    static func event(_ events: AwaitableEventSink, _ matches: @escaping @Sendable (Event) -> Bool) async throws -> Event {
        try await withTimeout(.seconds(10)) { try await events.first(where: matches) }
    }

    /// A client gives up on a lost reply and retries on a new connection: the log says
    /// attempt 0 then 1, pairs each reply with its request, and records that the client
    /// closed the first connection while its request was unanswered.
    @Test func aLostReplyLeavesTheRequestUnansweredAndTheRetryIsAttemptOne() async throws {
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let request = HTTPTestMessage.request("POST", "/charges", id: "c-1", key: "key-1", body: "{\"amount\":5}")
        let plan = FaultPlan(profile: try ProfileLoader().load("reply-lost"), seed: 7)
        try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: Self.http) { _, port in
            _ = await Result(catching: { try await MessageFaultsHTTPTests.callUntilFault(port, request, events) })
            _ = try await Self.event(events) { $0.type == .connectionClose && $0.conn == 0 }
            _ = try await Self.call(port, request)
            _ = try await Self.event(events) { $0.type == .connectionClose && $0.conn == 1 }
        }
        await server.stop(afterServing: 2)

        let requests = events.events.filter { $0.type == .message && $0.direction == .upstream }.sorted { $0.conn! < $1.conn! }
        #expect(requests.map(\.attempt) == [0, 1])
        #expect(requests.map(\.idempotencyKey) == ["key-1", "key-1"])
        for request in requests {
            let first = try #require(request.firstMono)
            #expect(first <= request.mono!)
        }
        let replies = events.events.filter { $0.type == .message && $0.direction == .downstream }.sorted { $0.conn! < $1.conn! }
        #expect(replies.map(\.requestUnit) == [0, 0])
        #expect(replies.map(\.attempt) == [0, 1])
        #expect(replies.map(\.requestMono) == requests.map(\.firstMono))
        #expect(replies.allSatisfy { $0.mono! >= $0.requestMono! })

        let closes = events.events.filter { $0.type == .connectionClose }.sorted { $0.conn! < $1.conn! }
        #expect(closes[0].closedBy == "client", "the client timed out and closed")
        #expect(closes[0].unansweredUnit == 0, "its reply was dropped: the client gave up waiting for request 0")
        #expect(closes[1].unansweredUnit == nil, "the retry was answered")
        #expect(closes.allSatisfy { $0.firstCloseMono != nil && $0.firstCloseMono! <= $0.mono! })
    }

    /// The server cuts in after the request was processed (server-crash-after-processing):
    /// the proxy cut it, so `closed_by` is `proxy`, and the request is unanswered.
    @Test func aCutAtTheFirstReplyByteIsClosedByTheProxy() async throws {
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let request = HTTPTestMessage.request("POST", "/payments", id: "p-1", key: "k", body: "{}")
        let plan = FaultPlan(profile: try ProfileLoader().load("server-crash-after-processing"), seed: 7)
        try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: Self.http) { _, port in
            _ = try await Self.call(port, request)
            _ = try await Self.event(events) { $0.type == .connectionClose }
        }
        await server.stop(afterServing: 1)
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.closedBy == "proxy")
        #expect(close.unansweredUnit == 0)
    }

    /// A server's Retry-After is on its reply's event; a keep-alive connection pairs each
    /// reply with its own request, and an answered connection closed by the client
    /// leaves nothing unanswered.
    @Test func retryAfterAndPairingOnAKeepAliveConnection() async throws {
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                var pending = ByteBuffer()
                for try await var chunk in inbound {
                    pending.writeBuffer(&chunk)
                    while let end = String(buffer: pending).range(of: "\r\n\r\n") {
                        let length = String(buffer: pending).utf8.distance(from: String(buffer: pending).startIndex, to: end.upperBound)
                        pending.moveReaderIndex(forwardBy: length)
                        try await outbound.write(
                            ByteBuffer(string: "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n")
                        )
                    }
                }
            }
        }
        let events = AwaitableEventSink()
        try await withProxy(upstreamPort: server.port, events: events, framing: Self.http) { _, port in
            let client = try await TestClient.connect(port: port)
            try await client.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                let response = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n"
                for path in ["/a", "/b"] {
                    try await outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n"))
                    _ = try await TestClient.read(atLeast: response.utf8.count, from: &iterator)
                }
            }
            _ = try await Self.event(events) { $0.type == .connectionClose }
        }
        await server.stop()
        let requests = events.events.filter { $0.type == .message && $0.direction == .upstream }
        let replies = events.events.filter { $0.type == .message && $0.direction == .downstream }
        #expect(requests.map(\.attempt) == [0, 0], "two different requests: each its first attempt")
        #expect(replies.map(\.requestUnit) == [0, 1])
        #expect(replies.map(\.retryAfter) == ["2", "2"])
        #expect(replies.map(\.status) == [503, 503])
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.closedBy == "client")
        #expect(close.unansweredUnit == nil)
    }
}

/// A proxy that stops while a request waits for its reply closes the connection when its
/// grace runs out: the log says the proxy closed it (`shutdown`), not the client, so
/// `faultline check retries` does not read the proxy's close as a client's timeout.
@Suite(.timeLimit(.minutes(1)))
struct ShutdownCloseTests {
    @Test func aConnectionClosedWhenTheGraceRunsOutIsClosedByTheProxy() async throws {
        // A server that reads requests and never answers.
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, _ in
                for try await _ in inbound {}
            }
        }
        let events = AwaitableEventSink()
        let proxy = TCPProxy(
            configuration: TCPProxyConfiguration(
                name: "test",
                listen: HostPort(host: "127.0.0.1", port: 0),
                upstream: HostPort(host: "127.0.0.1", port: server.port),
                connectTimeout: testDialTimeout,
                framing: RetryFactsTests.http
            ),
            group: MultiThreadedEventLoopGroup.singleton,
            events: events,
            logger: Logger(label: "faultline.test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let port = try await proxy.start().port!
        let client = try await TestClient.connect(port: port)
        try await client.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"))
            _ = try await RetryFactsTests.event(events) { $0.type == .message && $0.direction == .upstream }
            await proxy.shutdown(grace: .zero)
            // The client still waits: what it reads next is the end the proxy made.
            do { for try await _ in inbound {} } catch {}
        }
        await server.stop()
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.closedBy == "proxy")
        #expect(close.reason == "shutdown")
        #expect(close.unansweredUnit == 0, "the request was still owed its reply")
    }
}

/// A UDP proxy with a log records every datagram as a `message`: requests with their
/// fingerprint and attempt, replies with the request they answer.
@Suite(.timeLimit(.minutes(1)))
struct UDPRetryFactsTests {
    @Test func datagramsAreMessagesWithAttemptsAndPairedReplies() async throws {
        let echo = try await TestDatagramEcho.start()
        let events = AwaitableEventSink()
        var configuration = UDPProxyConfiguration(
            name: "udp", listen: HostPort(host: "127.0.0.1", port: 0), upstream: HostPort(host: "127.0.0.1", port: echo.port)
        )
        configuration.recordDatagrams = true
        let proxy = try UDPProxy(
            configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, events: events,
            logger: Logger(label: "faultline.test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let address = try await proxy.start()
        let client = try await TestDatagram.bind()
        let payloads = [TestDatagram.numbered(1), TestDatagram.numbered(1), TestDatagram.numbered(2)]
        try await client.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()
            for payload in payloads {
                try await outbound.write(AddressedEnvelope(remoteAddress: address, data: payload))
                _ = try #require(try await replies.next())
            }
        }
        await proxy.shutdown(grace: .zero)
        await echo.stop()

        #expect(events.events.first { $0.type == .proxyStart }?.framing == "datagram")
        let requests = events.events.filter { $0.type == .message && $0.direction == .upstream }
        let replies = events.events.filter { $0.type == .message && $0.direction == .downstream }
        #expect(requests.map(\.attempt) == [0, 1, 0], "the same bytes again are the next attempt")
        #expect(requests[0].fingerprint == requests[1].fingerprint && requests[0].fingerprint != requests[2].fingerprint)
        #expect(replies.map(\.requestUnit) == [0, 1, 2])
        #expect(replies.map(\.attempt) == [0, 1, 0])
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.unansweredUnit == nil)
    }
}
