import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import FaultlineTestSupport
import Logging
import NIOCore
import NIOPosix
import Testing

/// A proxy with `--framing` between real sockets on 127.0.0.1.
@Suite(.timeLimit(.minutes(1)))
struct FramingEndToEndTests {
    /// Starts a framed proxy in front of `upstreamPort`, runs `body`, shuts it down.
    func withFramedProxy<T: Sendable>(
        _ framing: FramingConfiguration,
        upstreamPort: Int,
        events: any EventSink,
        body: (Int) async throws -> T
    ) async throws -> T {
        let proxy = TCPProxy(
            configuration: TCPProxyConfiguration(
                name: "framed",
                listen: HostPort(host: "127.0.0.1", port: 0),
                upstream: HostPort(host: "127.0.0.1", port: upstreamPort),
                connectTimeout: testDialTimeout,
                framing: framing
            ),
            group: MultiThreadedEventLoopGroup.singleton,
            events: events,
            logger: Logger(label: "faultline.test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let address = try await proxy.start()
        do {
            let result = try await body(address.port!)
            await proxy.shutdown(grace: .seconds(5))
            return result
        } catch {
            await proxy.shutdown(grace: .zero)
            throw error
        }
    }

    /// A small HTTP/1.1 server: answers each complete request (head plus a
    /// Content-Length body) with `200` and a body naming the path, `HEAD` without it;
    /// half-closes after the client's FIN. It sends back what it received, for checking.
    static func startHTTPServer(received: AsyncStream<ByteBuffer>.Continuation) async throws -> TestServer {
        try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                var pending = ByteBuffer()
                var all = ByteBuffer()
                for try await var chunk in inbound {
                    all.writeImmutableBuffer(chunk)
                    pending.writeBuffer(&chunk)
                    while let (method, path, length) = Self.nextRequest(in: pending) {
                        pending.moveReaderIndex(forwardBy: length)
                        try await outbound.write(ByteBuffer(string: Self.response(method: method, path: path)))
                    }
                }
                received.yield(all)
            }
        }
    }

    static func response(method: String, path: String) -> String {
        let body = "you asked for \(path)"
        return "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + (method == "HEAD" ? "" : body)
    }

    /// The first complete request in `buffer`: method, path and total length.
    static func nextRequest(in buffer: ByteBuffer) -> (String, String, Int)? {
        let text = String(buffer: buffer)
        guard let headEnd = text.utf8.firstRange(of: "\r\n\r\n".utf8) else { return nil }
        let head = String(text[..<headEnd.lowerBound])
        let parts = head.split(separator: " ")
        let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].filter { $0 != " " }) } ?? 0
        let total = text.utf8.distance(from: text.utf8.startIndex, to: headEnd.upperBound) + length
        guard buffer.readableBytes >= total else { return nil }
        return (String(parts[0]), String(parts[1]), total)
    }

    @Test func httpFramingRecordsEachRequestAndReplyAndChangesNoByte() async throws {
        let (receivedStream, received) = AsyncStream<ByteBuffer>.makeStream()
        let server = try await Self.startHTTPServer(received: received)
        let events = MemoryEventSink()
        let exchanges: [(method: String, path: String, request: String)] = [
            ("GET", "/first", "GET /first HTTP/1.1\r\nHost: t\r\n\r\n"),
            ("POST", "/orders", "POST /orders HTTP/1.1\r\nHost: t\r\nIdempotency-Key: order-1\r\nContent-Length: 11\r\n\r\n{\"qty\": 3}\n"),
            ("HEAD", "/status", "HEAD /status HTTP/1.1\r\nHost: t\r\n\r\n"),
            ("GET", "/last", "GET /last HTTP/1.1\r\nHost: t\r\n\r\n"),
        ]
        let sent = exchanges.map(\.request).joined()
        let expected = exchanges.map { Self.response(method: $0.method, path: $0.path) }.joined()
        // No hold bound: the request split in two below must not fall back to raw when
        // a loaded run delays its second half past the default 2 s.
        let framing = FramingConfiguration(kind: .http, limits: FramingLimits(maxHoldNanoseconds: nil))
        let reply = try await self.withFramedProxy(framing, upstreamPort: server.port, events: events) { port in
            let client = try await TestClient.connect(port: port)
            return try await client.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                var reply = ByteBuffer()
                // Keep-alive, one at a time: each request waits for its reply.
                for exchange in exchanges.prefix(2) {
                    try await outbound.write(ByteBuffer(string: exchange.request))
                    var part = try await TestClient.read(
                        atLeast: Self.response(method: exchange.method, path: exchange.path).utf8.count, from: &iterator
                    )
                    reply.writeBuffer(&part)
                }
                // Then pipelined, split in the middle of a request line.
                let rest = exchanges.dropFirst(2).map(\.request).joined()
                let cut = rest.index(rest.startIndex, offsetBy: 40)
                try await outbound.write(ByteBuffer(string: String(rest[..<cut])))
                try await outbound.write(ByteBuffer(string: String(rest[cut...])))
                outbound.finish()
                while var chunk = try await iterator.next() { reply.writeBuffer(&chunk) }
                return reply
            }
        }
        var iterator = receivedStream.makeAsyncIterator()
        let serverReceived = try #require(await iterator.next())
        await server.stop()

        #expect(String(buffer: reply) == expected)
        #expect(String(buffer: serverReceived) == sent)
        let messages = events.events.filter { $0.type == .message }
        let requests = messages.filter { $0.direction == .upstream }
        let replies = messages.filter { $0.direction == .downstream }
        #expect(requests.map(\.method) == exchanges.map(\.method))
        #expect(requests.map(\.path) == exchanges.map(\.path))
        #expect(requests.map(\.bytes) == exchanges.map { $0.request.utf8.count })
        #expect(requests.map(\.unit) == [0, 1, 2, 3])
        #expect(requests[1].idempotencyKey == "order-1")
        #expect(requests.allSatisfy { $0.fingerprint?.count == 32 && $0.conn == 0 && $0.proxy == "framed" })
        #expect(replies.map(\.status) == [200, 200, 200, 200])
        #expect(replies.map(\.path) == exchanges.map(\.path))
        #expect(replies.map(\.bytes) == exchanges.map { Self.response(method: $0.method, path: $0.path).utf8.count })
        #expect(events.events.contains { $0.type == .framingFallback } == false)
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.bytesFromClient == sent.utf8.count && close.bytesToUpstream == sent.utf8.count)
        #expect(close.bytesFromUpstream == expected.utf8.count && close.bytesToClient == expected.utf8.count)
        #expect(events.events.first { $0.type == .proxyStart }?.framing == "http")
    }

    /// Bytes that are not HTTP still pass, unchanged, and the log says framing gave up.
    @Test func nonHTTPBytesThroughAnHTTPFramedProxyPassUnchanged() async throws {
        let server = try await TestServer.echo()
        let events = MemoryEventSink()
        var pattern = PatternBytes(seed: 9, total: 300_000)
        var payload = ByteBuffer(bytes: [0x16, 0x03, 0x01])
        while var chunk = pattern.next(size: 10_000) { payload.writeBuffer(&chunk) }
        let echoed = try await self.withFramedProxy(FramingConfiguration(kind: .http), upstreamPort: server.port, events: events) { port in
            let client = try await TestClient.connect(port: port)
            return try await client.executeThenClose { inbound, outbound in
                try await outbound.write(payload)
                outbound.finish()
                return try await TestClient.readAll(inbound)
            }
        }
        await server.stop()
        #expect(echoed == payload)
        let fallbacks = events.events.filter { $0.type == .framingFallback }
        #expect(fallbacks.map(\.direction) .contains(.upstream))
        #expect(fallbacks.allSatisfy { $0.reason?.isEmpty == false })
    }

    /// A client that waits for the server before it finishes its request (as with
    /// `Expect: 100-continue`) is not left waiting on faultline: after `maxHold` the
    /// held head goes on raw, the server answers, and the client completes.
    @Test func aHeldIncompleteRequestReachesTheServerAfterMaxHold() async throws {
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                var seen = ByteBuffer()
                for try await var chunk in inbound {
                    seen.writeBuffer(&chunk)
                    if String(buffer: seen).hasSuffix("\r\n\r\n") {
                        try await outbound.write(ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n"))
                    }
                    if String(buffer: seen).hasSuffix("hello") {
                        try await outbound.write(ByteBuffer(string: "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"))
                    }
                }
            }
        }
        let events = MemoryEventSink()
        let framing = FramingConfiguration(kind: .http, limits: FramingLimits(maxHoldNanoseconds: 100_000_000))
        let reply = try await self.withFramedProxy(framing, upstreamPort: server.port, events: events) { port in
            let client = try await TestClient.connect(port: port)
            return try await client.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                try await outbound.write(ByteBuffer(string: "POST /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"))
                var reply = try await TestClient.read(atLeast: 25, from: &iterator)
                try await outbound.write(ByteBuffer(string: "hello"))
                var rest = try await TestClient.read(atLeast: 43, from: &iterator)
                reply.writeBuffer(&rest)
                return String(buffer: reply)
            }
        }
        await server.stop()
        #expect(reply == "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        let fallback = try #require(events.events.first { $0.type == .framingFallback })
        #expect(fallback.direction == .upstream)
        #expect(fallback.reason == "a message stayed incomplete for 100ms")
    }

    /// RESP through a framed proxy against an echo server: commands in, same bytes out.
    @Test func respFramingNamesPipelinedCommands() async throws {
        let server = try await TestServer.echo()
        let events = MemoryEventSink()
        let commands = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$4\r\nincr\r\n$1\r\nn\r\nPING\r\n"
        // A byte at a time can take longer than the default 2 s hold on a loaded
        // machine, and the framer would fall back to raw: this test is not about that.
        let framing = FramingConfiguration(kind: .resp, limits: FramingLimits(maxHoldNanoseconds: 60_000_000_000))
        let echoed = try await self.withFramedProxy(framing, upstreamPort: server.port, events: events) { port in
            let client = try await TestClient.connect(port: port)
            return try await client.executeThenClose { inbound, outbound in
                for byte in commands.utf8 { try await outbound.write(ByteBuffer(bytes: [byte])) }
                outbound.finish()
                return try await TestClient.readAll(inbound)
            }
        }
        await server.stop()
        #expect(String(buffer: echoed) == commands)
        let upstream = events.events.filter { $0.type == .message && $0.direction == .upstream }
        #expect(upstream.map(\.command) == ["SET", "INCR", "PING"])
    }
}
