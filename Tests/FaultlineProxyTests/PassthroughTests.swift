import FaultlineCore
import FaultlineProxy
import FaultlineTestSupport
import NIOCore
import Testing

@Suite(.timeLimit(.minutes(3)))
struct PassthroughTests {
    /// 64 MiB each way at once: what each end receives hashes to what the other sent.
    @Test func sixtyFourMebibytesEachWayAreByteExact() async throws {
        let size = 64 * 1024 * 1024
        let serverDigests = ServerReports<(sent: [UInt8], received: [UInt8])>()
        let serverProcess = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: [UInt8].self) { group in
                    group.addTask {
                        var pattern = PatternBytes(seed: 2, total: size)
                        while let chunk = pattern.next() { try await outbound.write(chunk) }
                        outbound.finish()
                        return pattern.digest
                    }
                    var digest = StreamDigest()
                    for try await chunk in inbound { digest.update(chunk) }
                    let sent = try await group.next()!
                    // Returning closes the channel; first let the pending writes out.
                    try await connection.channel.closeFuture.get()
                    serverDigests.send((sent, digest.digest))
                }
            }
        }
        let events = MemoryEventSink()
        let (clientSent, clientReceived, clientCount, server) = try await withProxy(upstreamPort: serverProcess.port, events: events) { _, port in
            let client = try await TestClient.connect(port: port)
            let (sent, received, count) = try await client.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: [UInt8].self) { group in
                    group.addTask {
                        var pattern = PatternBytes(seed: 1, total: size)
                        while let chunk = pattern.next() { try await outbound.write(chunk) }
                        outbound.finish()
                        return pattern.digest
                    }
                    var digest = StreamDigest()
                    for try await chunk in inbound { digest.update(chunk) }
                    let sent = try await group.next()!
                    // Returning closes the channel; first let the pending writes out.
                    try await client.channel.closeFuture.get()
                    return (sent, digest.digest, digest.count)
                }
            }
            // The client can be done while the proxy still writes the tail of its bytes
            // to a slow server (the server's own FIN, which ends the client's reading,
            // does not wait for them); the proxy stops, with its grace, only once the
            // server has read everything.
            return (sent, received, count, try await serverDigests.next(within: .seconds(150)))
        }
        await serverProcess.stop()
        #expect(clientCount == size)
        #expect(clientReceived == server.sent)
        #expect(server.received == clientSent)
        let close = try #require(events.events.first { $0.type == .connectionClose })
        // On a failure, the whole conn_close says where the bytes went.
        #expect(close.bytesFromClient == size && close.bytesToUpstream == size, "\(close)")
        #expect(close.bytesFromUpstream == size && close.bytesToClient == size, "\(close)")
    }

    /// 1,000 connections at once, each echoing its own payload.
    @Test func thousandConcurrentConnectionsEchoTheirOwnPayload() async throws {
        OpenFileLimit.raiseToHardLimit()
        let server = try await TestServer.echo()
        let mismatches = try await withProxy(upstreamPort: server.port) { _, port in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<1000 {
                    group.addTask {
                        var pattern = PatternBytes(seed: UInt64(index), total: 1024 + index)
                        var payload = ByteBuffer(string: "connection \(index):")
                        while var chunk = pattern.next() { payload.writeBuffer(&chunk) }
                        let client = try await TestClient.connect(port: port)
                        return try await client.executeThenClose { inbound, outbound in
                            try await outbound.write(payload)
                            outbound.finish()
                            let echoed = try await TestClient.readAll(inbound)
                            return echoed == payload
                        }
                    }
                }
                var mismatches = 0
                for try await matched in group where !matched { mismatches += 1 }
                return mismatches
            }
        }
        await server.stop()
        #expect(mismatches == 0)
    }
}
