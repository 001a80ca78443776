import FaultlineCore
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(1)))
struct EndingsTests {
    /// A client that shuts its write side still receives the whole reply, sent by a
    /// server that only answers after it saw EOF.
    @Test func halfCloseFromClientStillGetsTheReply() async throws {
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                let request = try await TestClient.readAll(inbound)
                var reply = ByteBuffer(string: "reply to ")
                reply.writeImmutableBuffer(request)
                try await outbound.write(reply)
            }
        }
        let reply = try await withProxy(upstreamPort: server.port) { _, port in
            let client = try await TestClient.connect(port: port)
            return try await client.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "the request"))
                outbound.finish()
                return String(buffer: try await TestClient.readAll(inbound))
            }
        }
        await server.stop()
        #expect(reply == "reply to the request")
    }

    /// The server half-closes first; the client can keep sending and the server still
    /// receives everything.
    @Test func halfCloseFromServerKeepsTheOtherDirection() async throws {
        let received = ServerReports<String>()
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "hello"))
                outbound.finish()
                let all = try await TestClient.readAll(inbound)
                received.send(String(buffer: all))
            }
        }
        let (greeting, serverGot) = try await withProxy(upstreamPort: server.port) { _, port in
            let client = try await TestClient.connect(port: port)
            let greeting = try await client.executeThenClose { inbound, outbound in
                let greeting = try await TestClient.readAll(inbound)
                try await outbound.write(ByteBuffer(string: "still talking after your FIN"))
                outbound.finish()
                return String(buffer: greeting)
            }
            // The client is done once its bytes and FIN are sent (the server's FIN came
            // first): the proxy may still be forwarding them, and stopping it (a 1 s
            // grace) would cut the server's stream short. It stops once the server has
            // read to the end.
            return (greeting, try await received.next())
        }
        await server.stop()
        #expect(greeting == "hello")
        #expect(serverGot == "still talking after your FIN")
    }

    /// An upstream RST reaches the client as a reset, not as a clean EOF.
    @Test func upstreamResetBecomesClientReset() async throws {
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, _ in
                var iterator = inbound.makeAsyncIterator()
                _ = try await iterator.next()
                resetAndClose(connection.channel)
            }
        }
        // A blocking socket reports what the kernel saw (an event-loop client can report
        // a reset that lands while it is not reading as a plain close).
        let ending = try await withProxy(upstreamPort: server.port) { _, port in
            try await SocketClient.exchange(port: port, request: "provoke a reset")
        }
        await server.stop()
        #expect(ending == .reset(""))
    }

    /// An upstream that said goodbye and closed, to a client that keeps sending: the
    /// proxy's writes upstream are refused, and the client's connection must not be left
    /// half-open with its bytes unread (the server's kernel would reset it).
    @Test func aClientTalkingToAClosedUpstreamIsNotLeftHanging() async throws {
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                _ = try await iterator.next()
                // Written to the socket, then a full close (not a half-close).
                try await connection.channel.writeAndFlush(ByteBuffer(string: "bye"))
            }
        }
        let events = AwaitableEventSink()
        try await withProxy(upstreamPort: server.port, events: events) { _, port in
            let client = try await TestClient.connect(port: port)
            try await client.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "hello"))
                #expect(String(buffer: try await TestClient.readAll(inbound)) == "bye")
                // The upstream is gone; the client does not know yet and keeps talking.
                let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 16_384)
                // Not awaited: once the proxy stops reading, such writes would wait for ever.
                for _ in 0..<8 { client.channel.write(chunk, promise: nil) }
                client.channel.flush()
                let close = try await withTimeout(.seconds(10)) {
                    try await events.first { $0.type == .connectionClose }
                }
                #expect(close.bytesToClient == 3)
            }
        }
        await server.stop()
        #expect(Accounting.check(events.events).isEmpty)
    }

    /// A client RST reaches the upstream as a reset.
    @Test func clientResetBecomesUpstreamReset() async throws {
        let (progress, continuation) = AsyncStream<String>.makeStream()
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, _ in
                var iterator = inbound.makeAsyncIterator()
                _ = try await iterator.next()
                continuation.yield("received")
                do {
                    while try await iterator.next() != nil {}
                    continuation.yield("eof")
                } catch let error as IOError where error.errnoCode == ECONNRESET {
                    continuation.yield("reset")
                }
            }
        }
        var updates = progress.makeAsyncIterator()
        // The outcome is awaited while the proxy still runs: its shutdown closes what is
        // left with FIN, which under load could come before it read the client's reset.
        let outcome = try await withProxy(upstreamPort: server.port) { _, port in
            let client = try await TestClient.connect(port: port)
            try await client.executeThenClose { _, outbound in
                try await outbound.write(ByteBuffer(string: "ping"))
                _ = await updates.next()  // the upstream has the bytes: the connection is bridged
                resetAndClose(client.channel)
            }
            return await updates.next()
        }
        await server.stop()
        #expect(outcome == "reset")
    }

    /// With the upstream refusing, the client's connection closes at once and the proxy
    /// keeps accepting.
    @Test func upstreamRefusedClosesClientPromptly() async throws {
        let refusing = try Self.portWithNobodyListening()
        let closedPort = refusing.port
        let events = MemoryEventSink()
        try await withProxy(upstreamPort: closedPort, events: events) { proxy, port in
            for _ in 0..<3 {
                let client = try await TestClient.connect(port: port)
                // A bound against a hang, not a speed check: 1 s and then 5 s were too
                // tight with both cores busy, where a test's awaits can wait seconds for
                // a thread of the cooperative pool.
                let received = try await withTimeout(.seconds(20)) {
                    try await client.executeThenClose { inbound, _ in
                        try await TestClient.readAll(inbound).readableBytes
                    }
                }
                #expect(received == 0)
            }
        }
        let errors = events.events.filter { $0.type == .upstreamError }
        #expect(errors.count == 3)
        #expect(errors.allSatisfy { $0.upstream == "127.0.0.1:\(closedPort)" })
        // Said in words, not as swift-nio's "connection reset (error set): …" for a refusal.
        #expect(errors.allSatisfy { $0.reason == "Connection refused (errno \(ECONNREFUSED))" }, "reason: \(errors.first?.reason ?? "")")
        withExtendedLifetime(refusing) {}
    }

    /// A client that resets at once, while its upstream is still being dialled, is not
    /// blamed on the upstream: no `upstream_error` (every such client once logged one,
    /// "I/O on closed channel", and a warning that the upstream was unreachable).
    @Test func aClientThatLeavesDuringTheDialIsNoUpstreamError() async throws {
        let server = try await TestServer.echo()
        let events = MemoryEventSink()
        try await withProxy(upstreamPort: server.port, events: events) { _, port in
            try await onOwnThread { try HostileClient.resetAtOnce(port: port, count: 100) }
            // An ordinary exchange after them: the upstream was there all along.
            let ending = try await SocketClient.exchange(port: port, request: "after\n", finish: true, limit: .seconds(30))
            #expect(ending == .eof("after\n"))
        }
        await server.stop()
        let errors = events.events.filter { $0.type == .upstreamError }
        #expect(errors.count == 0, "resets blamed on the upstream: \(errors.first?.reason ?? "")")
    }

    /// A free port: bound once, then released.
    /// A port that refuses connections for as long as the test holds it: bound, never
    /// listening, so no other test's server can take it meanwhile (a freed port can be
    /// handed to one running alongside, and the dial then reaches that server).
    static func portWithNobodyListening() throws -> RefusingPort {
        try RefusingPort()
    }
}


/// Closes with SO_LINGER 0 so the peer sees RST.
func resetAndClose(_ channel: any Channel) {
    channel.resetAndClose()
}
