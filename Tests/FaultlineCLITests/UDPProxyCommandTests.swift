import FaultlineCore
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

/// `faultline proxy --udp` as a user runs it.
@Suite(.timeLimit(.minutes(1)))
struct UDPProxyCommandTests {
    /// Five datagrams echo through the binary, one at a time, and the log's count of
    /// what the session took in and sent on balances. Like a real UDP client, this one
    /// sends a datagram again when no echo came within 2 s: the kernel may drop a
    /// datagram on a loaded machine, and one loss must not hang the test. The proxy
    /// must not lose one, though: the log's counts say whether it did.
    @Test func echoesThroughTheBinaryAndExitsZeroOnSIGTERM() async throws {
        let directory = try RecordsCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("udp.jsonl").path
        let echo = try await TestDatagramEcho.start()
        let proxy = try FaultlineBinary.start([
            "proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)",
            "--udp-idle-timeout", "30s", "--udp-max-sessions", "8", "--log", log,
        ])
        let port = try #require(await proxy.listeningPort())
        let client = try await TestDatagram.bind()
        // Each phase bounded on its own, so a failure names the one that hung (once,
        // with both cores busy, the whole test ran past its minute).
        defer { proxy.signal(SIGKILL) }
        let (echoed, sent) = try await withTimeout(.seconds(30)) { try await client.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()
            var echoed: [ByteBuffer] = []
            var sent = 0
            for number in UInt64(0)..<5 {
                let datagram = TestDatagram.Envelope(remoteAddress: try TestDatagram.loopback(port), data: TestDatagram.numbered(number, size: 512))
                let sender = Task {
                    var sends = 0
                    while !Task.isCancelled {
                        try await outbound.write(datagram)
                        sends += 1
                        try? await Task.sleep(for: .seconds(2))
                    }
                    return sends
                }
                // A late echo of an earlier datagram sent twice is skipped.
                var reply = try #require(try await replies.next()).data
                while TestDatagram.number(of: reply) != number { reply = try #require(try await replies.next()).data }
                sender.cancel()
                sent += try await sender.value
                echoed.append(reply)
            }
            return (echoed, sent)
        } }
        #expect(echoed == (0..<5).map { TestDatagram.numbered(UInt64($0), size: 512) })
        proxy.signal(SIGTERM)
        #expect(try await withTimeout(.seconds(30)) { await proxy.exitStatus() } == 0)
        await echo.stop()

        let close = try #require(try EventLogReader.read(path: log).first { $0.type == .connectionClose })
        // A copy sent again just as the first one's echo came back may still have been
        // on its way in at SIGTERM: the proxy took in all but at most that one.
        let taken = close.datagramsFromClient ?? 0
        #expect((sent > 5 ? sent - 1 : sent)...sent ~= taken && close.datagramsToUpstream == taken, "\(close)")
        #expect(close.datagramsFromUpstream == close.datagramsToClient && (close.datagramsToClient ?? 0) >= 5, "\(close)")
        #expect(close.datagramsDroppedUpstream == 0 && close.datagramsDroppedDownstream == 0, "\(close)")
        if sent > 5 {
            Issue.record("\(sent - 5) datagram(s) sent again after 2 s without an echo; the proxy's counts balance", severity: .warning)
        }
    }

    /// Idle UDP sessions keep one receive buffer each. NIO reads each datagram into a
    /// 64 KiB buffer that it keeps for the session's socket, and keeps one more for
    /// every reply still held when it reads again (each waits for the tick's flush);
    /// the proxy passes replies on as copies of their own size, so a session keeps one:
    /// about 70 KiB, where a burst of 16 replies left over 1 MiB, and one reply 134 KiB.
    @Test func sessionsIdleAfterABurstKeepOneReceiveBuffer() async throws {
        let echo = try await TestDatagramEcho.start()
        let proxy = try FaultlineBinary.start(["proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)"])
        defer { proxy.signal(SIGKILL) }
        let port = try #require(await proxy.listeningPort())
        // One datagram that must come back: the wait only guards against a hang (a busy
        // test process can take over 2 s to echo it).
        let warm = try await onOwnThread { try HostileClient.burstThenHold(port: port, count: 1, burst: 1, size: 100, wait: 30) }
        warm.sockets.close()
        #expect(warm.echoes == 1)
        let baseline = try #require(ProcessMemory.of(proxy.processIdentifier)?.rss)
        let count = 200
        let held = try await onOwnThread { try HostileClient.burstThenHold(port: port, count: count, burst: 16, size: 1_000) }
        defer { held.sockets.close() }
        let perSession = (try #require(ProcessMemory.of(proxy.processIdentifier)?.rss) - baseline) / count
        #expect(held.echoes >= count, "\(held.echoes) of \(count * 16) datagrams echoed")
        #expect(perSession < 100 || !Sanitized.boundsApply, "\(perSession) KiB a session idle after a burst of 16")
        proxy.signal(SIGTERM)
        #expect(try await withTimeout(.seconds(30)) { await proxy.exitStatus() } == 0)
        await echo.stop()
        print("udp: idle after a burst of 16: \(perSession) KiB a session, \(held.echoes) of \(count * 16) echoed")
    }

    /// A burst of large datagrams each way goes through whole: the proxy's writes wait
    /// only for the end of the event loop's tick, and a send queue of swift-nio's
    /// default 64 KiB made it drop most of such a burst (counted in the log as dropped)
    /// that the socket would have taken at once.
    @Test func aBurstOfLargeDatagramsIsNotDroppedByTheProxy() async throws {
        let directory = try RecordsCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("burst.jsonl").path
        let echo = try await TestDatagramEcho.start()
        let proxy = try FaultlineBinary.start(["proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)", "--log", log])
        defer { proxy.signal(SIGKILL) }
        let port = try #require(await proxy.listeningPort())
        let held = try await onOwnThread { try HostileClient.burstThenHold(port: port, count: 8, burst: 16, size: 30_000) }
        held.sockets.close()
        proxy.signal(SIGTERM)
        #expect(try await withTimeout(.seconds(30)) { await proxy.exitStatus() } == 0)
        await echo.stop()
        let closes = try EventLogReader.read(path: log).filter { $0.type == .connectionClose }
        #expect(closes.count == 8)
        let dropped = closes.reduce(0) { $0 + ($1.datagramsDroppedUpstream ?? 0) + ($1.datagramsDroppedDownstream ?? 0) }
        #expect(dropped == 0, "the proxy dropped \(dropped) of \(8 * 16 * 2) datagrams; \(held.echoes) echoes came back")
        // Everything the proxy took in, it sent on, both ways.
        for close in closes {
            #expect(close.datagramsToUpstream == close.datagramsFromClient && close.datagramsToClient == close.datagramsFromUpstream, "\(close)")
        }
        // The kernel may drop datagrams at the echo server's or the client's socket when
        // the test process itself is busy (a loaded full-suite run echoed 108 of 128 with
        // the proxy dropping none): a warning, not the proxy's failure.
        if held.echoes < 8 * 16 * 9 / 10 {
            Issue.record("\(held.echoes) of \(8 * 16) echoes came back; the proxy dropped none of what it took in", severity: .warning)
        }
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
