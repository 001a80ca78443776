import FaultlineCore
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import NIOCore
import NIOPosix
import Testing

/// A UDP proxy that closes its sessions itself (a shutdown once its grace is over,
/// which is also how `serve` deletes or disables a proxy) closes them at once, as TCP
/// connections: datagrams a fault still holds are discarded and counted as dropped in
/// `conn_close`, so the books balance and nothing waits for a delay the close made
/// moot. Within the grace, held datagrams leave as their rules say.
@Suite(.timeLimit(.minutes(1)))
struct UDPHeldAtCloseTests {
    /// What a shutdown may take at most, on a loaded machine, and still be "at once".
    static let promptly = Duration.seconds(15)

    /// Sends one datagram through a proxy whose rule delays it by `latency`, waits
    /// until the rule holds it, shuts the proxy down with `grace`, and returns how long
    /// the shutdown took, the datagrams the upstream got and the session's `conn_close`.
    static func shutdownWhileHeld(
        latency: Duration, grace: TimeAmount, endingTheGrace: Bool = false
    ) async throws -> (took: Duration, arrived: Int, close: Event) {
        let events = AwaitableEventSink()
        let receiver = try await TestDatagram.bind()
        let receiverPort = try #require(receiver.channel.localAddress?.port)
        let proxy = try UDPProxy(
            configuration: UDPProxyConfiguration(
                name: "test",
                listen: HostPort(host: "127.0.0.1", port: 0),
                upstream: HostPort(host: "127.0.0.1", port: receiverPort),
                idleTimeout: .seconds(60),
                maxSessions: 10,
                faults: try udpPlan([Rule(name: "late", match: RuleMatch(direction: .upstream), fault: DelayFault(latency: latency))])
            ),
            group: MultiThreadedEventLoopGroup.singleton,
            events: events
        )
        let address = try await proxy.start()
        let clock = ContinuousClock()
        let (took, arrived) = try await receiver.executeThenClose { upstreamInbound, _ in
            var upstream = upstreamInbound.makeAsyncIterator()
            let client = try await TestDatagram.bind()
            try await client.executeThenClose { _, outbound in
                try await outbound.write(TestDatagram.Envelope(remoteAddress: address, data: TestDatagram.numbered(1)))
            }
            _ = try await withTimeout(.seconds(30)) { try await events.first { $0.type == .fault && $0.action == "delay" } }
            let started = clock.now
            if endingTheGrace {
                // A second signal comes while the shutdown starts: before or after it
                // reaches the sessions, the grace ends.
                async let stopped: Void = proxy.shutdown(grace: grace)
                proxy.endGrace()
                await stopped
            } else {
                await proxy.shutdown(grace: grace)
            }
            let took = clock.now - started
            let close = try await withTimeout(.seconds(30)) { try await events.first { $0.type == .connectionClose } }
            // The upstream got what the log says was sent to it: read exactly that.
            var arrived = 0
            for _ in 0..<(close.datagramsToUpstream ?? 0) {
                if try await upstream.next() != nil { arrived += 1 }
            }
            return (took, arrived)
        }
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(Accounting.check(events.events).isEmpty, "\(Accounting.check(events.events))")
        return (took, arrived, close)
    }

    /// No grace (`serve`'s delete and disable): the datagram a 60 s delay holds is
    /// discarded at once, counted as dropped.
    @Test func aShutdownWithoutGraceDiscardsHeldDatagrams() async throws {
        let (took, arrived, close) = try await Self.shutdownWhileHeld(latency: .seconds(60), grace: .zero)
        #expect(took < Self.promptly, "the shutdown waited \(took) for a held datagram")
        #expect(arrived == 0)
        #expect(close.reason == "shutdown")
        #expect(close.datagramsFromClient == 1 && close.datagramsToUpstream == 0 && close.datagramsDroppedUpstream == 1, "\(close)")
        #expect(close.bytesFromClient == 32 && close.droppedUpstream == 32, "\(close)")
    }

    /// A grace longer than the delay: the datagram leaves when its delay ends, then the
    /// session closes, with nothing dropped, long before the grace is over.
    @Test func withinItsGraceAShutdownLetsHeldDatagramsLeave() async throws {
        let (took, arrived, close) = try await Self.shutdownWhileHeld(latency: .milliseconds(200), grace: .seconds(50))
        #expect(took < Self.promptly, "the shutdown waited \(took), past the datagram's delay")
        #expect(arrived == 1)
        #expect(close.reason == "shutdown")
        #expect(close.datagramsToUpstream == 1 && close.datagramsDroppedUpstream == 0, "\(close)")
    }

    /// A grace ended early (a second signal): what is held is discarded then, as when
    /// the grace is over, without waiting for the rest of it.
    @Test func endingTheGraceDiscardsWhatIsHeldAtOnce() async throws {
        let (took, arrived, close) = try await Self.shutdownWhileHeld(latency: .seconds(60), grace: .seconds(50), endingTheGrace: true)
        #expect(took < Self.promptly, "the shutdown waited \(took) after its grace was ended")
        #expect(arrived == 0)
        #expect(close.datagramsDroppedUpstream == 1 && close.droppedUpstream == 32, "\(close)")
    }

    /// A grace shorter than the delay: the shutdown waits the grace, then discards.
    @Test func aShutdownDiscardsWhatIsStillHeldWhenItsGraceIsOver() async throws {
        let (took, arrived, close) = try await Self.shutdownWhileHeld(latency: .seconds(60), grace: .milliseconds(100))
        #expect(took >= .milliseconds(100) && took < Self.promptly, "\(took)")
        #expect(arrived == 0)
        #expect(close.datagramsDroppedUpstream == 1 && close.droppedUpstream == 32, "\(close)")
    }
}
