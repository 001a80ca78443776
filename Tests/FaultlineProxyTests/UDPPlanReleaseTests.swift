import FaultlineCore
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import NIOCore
import Testing

/// On a running UDP proxy, a plan change that removes a `delay` rule lets go of the
/// datagrams it holds, as on TCP: they reach the upstream at once, in order, and the
/// log says so with a `released` event each (reason `plan_change`), so no `delay` in
/// it claims a wait that did not happen; the session's books balance.
@Suite(.timeLimit(.minutes(1)))
struct UDPPlanReleaseTests {
    /// What a release may take at most, on a loaded machine, and still be "at once":
    /// far below the rule's minute (which is also the suite's time limit, so a
    /// datagram that waited out its delay fails either way).
    static let promptly = Duration.seconds(15)

    @Test func removingADelayReleasesHeldDatagramsAtOnce() async throws {
        let events = AwaitableEventSink()
        let receiver = try await TestDatagram.bind()
        let receiverPort = try #require(receiver.channel.localAddress?.port)
        let late = Rule(name: "late", match: RuleMatch(direction: .upstream), fault: DelayFault(latency: .seconds(60)))
        let clock = ContinuousClock()
        let arrived = try await withUDPProxy(upstreamPort: receiverPort, rules: [late], events: events) { proxy, address in
            try await receiver.executeThenClose { upstreamInbound, _ in
                var upstream = upstreamInbound.makeAsyncIterator()
                let client = try await TestDatagram.bind()
                return try await client.executeThenClose { _, outbound in
                    for number: UInt64 in 0..<3 {
                        try await outbound.write(TestDatagram.Envelope(remoteAddress: address, data: TestDatagram.numbered(number)))
                    }
                    // All three are read and held by the delay.
                    _ = try await withTimeout(.seconds(30)) {
                        try await events.first { $0.type == .fault && $0.action == "delay" && $0.unit == 2 }
                    }
                    let removed = clock.now
                    try await proxy.apply(udpProfile([], name: "calm"))
                    // The suite's time limit guards the reads against a hang.
                    var numbers: [UInt64] = []
                    for _ in 0..<3 {
                        numbers.append(TestDatagram.number(of: try #require(try await upstream.next()).data) ?? 99)
                    }
                    #expect(clock.now - removed < Self.promptly, "the datagrams waited for a delay no longer in the plan")
                    // A later datagram follows the plan in force: no delay.
                    try await outbound.write(TestDatagram.Envelope(remoteAddress: address, data: TestDatagram.numbered(3)))
                    numbers.append(TestDatagram.number(of: try #require(try await upstream.next()).data) ?? 99)
                    return numbers
                }
            }
        }
        #expect(arrived == [0, 1, 2, 3])
        let close = try await withTimeout(.seconds(30)) { try await events.first { $0.type == .connectionClose } }
        let log = events.events
        let released = log.filter { $0.type == .fault && $0.action == "released" }
        #expect(released.map(\.unit) == [0, 1, 2], "\(released)")
        #expect(
            released.allSatisfy {
                $0.rule == "late" && $0.kind == "delay" && $0.plan == 1 && $0.conn == close.conn && $0.direction == .upstream
                    && $0.bytes == 32 && $0.params?["reason"] == "plan_change" && $0.params?["held_for"] != nil
                    && $0.params?["delay"] == "1m"
            },
            "\(released)"
        )
        // The change is logged before what it released.
        let change = try #require(log.firstIndex { $0.type == .planChange })
        let firstRelease = try #require(log.firstIndex { $0.action == "released" })
        #expect(change < firstRelease)
        #expect(log.filter { $0.type == .fault && $0.action == "delay" }.map(\.unit) == [0, 1, 2])
        // Every datagram the log says was delayed was delivered: the books balance.
        #expect(close.datagramsFromClient == 4 && close.datagramsToUpstream == 4 && close.datagramsDroppedUpstream == 0)
        #expect(close.bytesFromClient == close.bytesToUpstream)
        #expect(Accounting.check(log).isEmpty, "\(Accounting.check(log))")
    }
}
