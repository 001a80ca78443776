import FaultlineTestSupport
import NIOCore
import Testing

/// Both sockets of a proxied connection send small writes at once (TCP_NODELAY): the
/// accepted one has it from the listener, the dialled one from its bootstrap, and
/// neither is set one by one (which costs a `getsockname` and an address's text a
/// socket). Read from the sockets themselves: this process holds them.
@Suite(.timeLimit(.minutes(1)))
struct NoDelayTests {
    @Test func bothSocketsOfAProxiedConnectionHaveNoDelay() async throws {
        let echo = try await TestServer.echo()
        try await withProxy(upstreamPort: echo.port) { _, port in
            let client = try await TestClient.connect(port: port)
            let clientPort = try #require(client.channel.localAddress?.port)
            try await client.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "ping"))
                var iterator = inbound.makeAsyncIterator()
                // Echoed: both legs are up.
                let reply = try await TestClient.read(atLeast: 4, from: &iterator)
                #expect(String(buffer: reply) == "ping")
                let sockets = OwnSockets.tcp()
                let accepted = sockets.filter { $0.local == port && $0.peer == clientPort }
                let dialled = sockets.filter { $0.peer == echo.port }
                #expect(accepted.count == 1 && dialled.count == 1, "\(sockets)")
                for socket in accepted + dialled {
                    #expect(OwnSockets.noDelay(socket.fd) == 1, "\(socket)")
                }
            }
        }
    }
}
