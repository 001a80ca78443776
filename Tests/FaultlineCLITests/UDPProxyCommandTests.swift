import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

/// `faultline proxy --udp` as a user runs it.
@Suite(.timeLimit(.minutes(1)))
struct UDPProxyCommandTests {
    @Test func echoesThroughTheBinaryAndExitsZeroOnSIGTERM() async throws {
        let echo = try await TestDatagramEcho.start()
        let proxy = try FaultlineBinary.start([
            "proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)",
            "--udp-idle-timeout", "5s", "--udp-max-sessions", "8",
        ])
        let port = try #require(await proxy.listeningPort())
        let client = try await TestDatagram.bind()
        // Each phase bounded on its own, so a failure names the one that hung (once,
        // with both cores busy, the whole test ran past its minute).
        defer { proxy.signal(SIGKILL) }
        let echoed = try await withTimeout(.seconds(30)) { try await client.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()
            var echoed: [ByteBuffer] = []
            for number in UInt64(0)..<5 {
                let payload = TestDatagram.numbered(number, size: 512)
                try await outbound.write(TestDatagram.Envelope(remoteAddress: try TestDatagram.loopback(port), data: payload))
                echoed.append(try #require(try await replies.next()).data)
            }
            return echoed
        } }
        #expect(echoed == (0..<5).map { TestDatagram.numbered(UInt64($0), size: 512) })
        proxy.signal(SIGTERM)
        #expect(try await withTimeout(.seconds(30)) { await proxy.exitStatus() } == 0)
        await echo.stop()
    }

    @Test func sigintAlsoStopsCleanly() async throws {
        let proxy = try FaultlineBinary.start(["proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9"])
        _ = try #require(await proxy.listeningPort())
        proxy.signal(SIGINT)
        #expect(await proxy.exitStatus() == 0)
    }

    static let badInvocations: [([String], Int32, String)] = [
        (["proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--udp-max-sessions", "0"], 2, "--udp-max-sessions must be at least 1"),
        (["proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--udp-idle-timeout", "0s"], 2, "--udp-idle-timeout must be above zero"),
        (["proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--udp-idle-timeout", "soon"], 2, "--udp-idle-timeout"),
        (["proxy", "--udp", "--listen", "127.0.0.1", "--upstream", "127.0.0.1:9"], 2, "--listen takes HOST:PORT"),
    ]

    @Test(arguments: badInvocations)
    func badUsageExitsTwo(arguments: [String], status: Int32, message: String) async throws {
        let result = try await FaultlineBinary.run(arguments)
        #expect(result.status == status)
        #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
    }

    @Test func portInUseExitsThree() async throws {
        let occupant = try await TestDatagram.bind()
        let port = try #require(occupant.channel.localAddress?.port)
        let result = try await FaultlineBinary.run(["proxy", "--udp", "--listen", "127.0.0.1:\(port)", "--upstream", "127.0.0.1:9"])
        try await occupant.channel.close()
        #expect(result.status == 3)
        #expect(result.stderr.contains("address already in use"), "stderr was: \(result.stderr)")
    }
}
