import FaultlineCore
import FaultlineProxy
import FaultlineTestSupport
import NIOCore
import NIOPosix
import Testing

/// The UDP proxy over real sockets on loopback. Nothing here sleeps: tests await
/// datagrams and events, and decide "lost" from the plan's deterministic decisions
/// (paced in windows so no socket buffer ever overflows) or from a marker that
/// bypasses the faults.
// Serialized: the 10,000-datagram tests can overflow loopback socket buffers, and a
// test that must see one particular datagram would then wait for it in vain.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct UDPProxyTests {
    typealias Envelope = TestDatagram.Envelope

    @Test func passthroughIsByteExactBothWaysAndAccounted() async throws {
        let echo = try await TestDatagramEcho.start()
        let events = AwaitableEventSink()
        let sizes = [9, 100, 1472, 9000, 65_507]
        try await withUDPProxy(upstreamPort: echo.port, events: events) { _, proxy in
            let client = try await TestDatagram.bind()
            try await client.executeThenClose { inbound, outbound in
                var replies = inbound.makeAsyncIterator()
                for (index, size) in sizes.enumerated() {
                    let payload = TestDatagram.numbered(UInt64(index), size: size)
                    try await outbound.write(Envelope(remoteAddress: proxy, data: payload))
                    let reply = try #require(try await replies.next())
                    #expect(reply.data == payload)
                    #expect(reply.remoteAddress == proxy)
                }
            }
        }
        let close = try await events.first { $0.type == .connectionClose }
        let total = sizes.reduce(0, +)
        #expect(close.datagramsFromClient == sizes.count && close.datagramsToUpstream == sizes.count)
        #expect(close.datagramsFromUpstream == sizes.count && close.datagramsToClient == sizes.count)
        #expect(close.bytesFromClient == total && close.bytesToUpstream == total)
        #expect(close.bytesFromUpstream == total && close.bytesToClient == total)
        #expect(close.droppedUpstream == 0 && close.duplicatedDownstream == 0)
        #expect(close.reason == "shutdown")
        let open = try #require(events.events.first { $0.type == .connectionOpen })
        #expect(open.conn == 0 && open.upstream == "127.0.0.1:\(echo.port)")
        await echo.stop()
    }

    /// What came out of one paced run: the numbers that arrived, in order, and the
    /// ordinals the proxy's events say it dropped.
    struct Delivery: Equatable {
        var arrived: [UInt64]
        var droppedByEvents: [UInt64]
        var close: Event?
    }

    /// Sends `count` numbered datagrams from one client through a proxy with `rules`
    /// to a receiving socket, in windows of 64: after each window it awaits exactly the
    /// datagrams the plan says survive, so no buffer overflows and nothing is guessed.
    /// Then a last datagram the plan lets through proves nothing else was on its way.
    static func pacedDelivery(rules: [Rule], seed: UInt64, count: Int) async throws -> Delivery {
        var decider = try UDPDecider(rules, seed: seed)
        var survives: [Bool] = (0..<count).map { _ in !decider.dropsNext() }
        // The marker: the first ordinal from `count` on that the plan lets through.
        while survives.count == count || survives.last == false {
            survives.append(!decider.dropsNext())
        }
        let events = AwaitableEventSink()
        let receiver = try await TestDatagram.bind()
        let receiverPort = try #require(receiver.channel.localAddress?.port)
        let arrived = try await withUDPProxy(upstreamPort: receiverPort, rules: rules, seed: seed, events: events) { _, proxy in
            try await receiver.executeThenClose { upstreamInbound, _ in
                var upstream = upstreamInbound.makeAsyncIterator()
                let client = try await TestDatagram.bind()
                return try await client.executeThenClose { _, outbound in
                    var arrived: [UInt64] = []
                    var start = 0
                    while start < survives.count {
                        let end = min(start + 64, survives.count)
                        for number in start..<end {
                            try await outbound.write(Envelope(remoteAddress: proxy, data: TestDatagram.numbered(UInt64(number))))
                        }
                        for _ in 0..<survives[start..<end].filter({ $0 }).count {
                            let envelope = try #require(try await upstream.next())
                            arrived.append(try #require(TestDatagram.number(of: envelope.data)))
                        }
                        start = end
                    }
                    return arrived
                }
            }
        }
        let close = try await events.first { $0.type == .connectionClose }
        let dropped = events.events.filter { $0.type == .fault && $0.action == "drop" }.compactMap(\.unit)
        return Delivery(
            arrived: arrived.filter { $0 < count },
            droppedByEvents: dropped.filter { $0 < count },
            close: close
        )
    }

    @Test func twentyPercentIndependentLossDropsAStableFifthOfTenThousand() async throws {
        let rules = [Rule(name: "lossy", match: RuleMatch(direction: .upstream), probability: 0.2, fault: DatagramLossFault())]
        let first = try await Self.pacedDelivery(rules: rules, seed: 2026, count: 10_000)
        let lost = 10_000 - first.arrived.count
        #expect((1800...2200).contains(lost))
        #expect(lost == 1_996, "pinned: the same seed loses the same datagrams on every run")
        // Every datagram is either delivered, in order, or named dropped by an event.
        #expect(first.arrived == first.arrived.sorted())
        #expect(Set(first.arrived).union(first.droppedByEvents) == Set(0..<10_000))
        #expect(first.droppedByEvents.count == lost)
        // Accounting: in = forwarded + dropped (the marker included).
        let close = try #require(first.close)
        #expect(close.datagramsFromClient == 10_001)
        #expect(close.datagramsToUpstream.map { $0 + (close.datagramsDroppedUpstream ?? 0) } == 10_001)
        #expect(close.datagramsDroppedUpstream == lost)
        // The same seed drops the same ordinals again.
        let second = try await Self.pacedDelivery(rules: rules, seed: 2026, count: 10_000)
        #expect(second.droppedByEvents == first.droppedByEvents)
        #expect(second.arrived == first.arrived)
    }

    @Test func gilbertElliottLossArrivesInBurstsAsThePlanSays() async throws {
        let rules = [Rule(name: "bursty", match: RuleMatch(direction: .upstream), fault: DatagramLossFault.gilbertElliott(p: 0.05, r: 0.3))]
        let delivery = try await Self.pacedDelivery(rules: rules, seed: 8, count: 3000)
        let dropped = Set(0..<3000).subtracting(delivery.arrived).sorted()
        #expect(dropped == delivery.droppedByEvents.sorted())
        var bursts = dropped.isEmpty ? 0 : 1
        for (previous, next) in zip(dropped, dropped.dropFirst()) where next != previous + 1 {
            bursts += 1
        }
        #expect(Double(dropped.count) / Double(max(bursts, 1)) > 2)
    }

    /// Sends `numbers` to the proxy from a fresh client and returns the first `expect`
    /// numbers that reach the upstream socket, in arrival order.
    static func sendAndCollect(
        rules: [Rule],
        seed: UInt64 = 0,
        numbers: Range<UInt64>,
        size: Int = 32,
        expect: Int,
        events: any EventSink = NullEventSink()
    ) async throws -> [ByteBuffer] {
        let receiver = try await TestDatagram.bind()
        let receiverPort = try #require(receiver.channel.localAddress?.port)
        return try await withUDPProxy(upstreamPort: receiverPort, rules: rules, seed: seed, events: events) { _, proxy in
            try await receiver.executeThenClose { upstreamInbound, _ in
                var upstream = upstreamInbound.makeAsyncIterator()
                let client = try await TestDatagram.bind()
                return try await client.executeThenClose { _, outbound in
                    for number in numbers {
                        try await outbound.write(Envelope(remoteAddress: proxy, data: TestDatagram.numbered(number, size: size)))
                    }
                    var arrived: [ByteBuffer] = []
                    while arrived.count < expect, let envelope = try await upstream.next() {
                        arrived.append(envelope.data)
                    }
                    return arrived
                }
            }
        }
    }

    @Test func duplicatesArriveTwice() async throws {
        let events = MemoryEventSink()
        let arrived = try await Self.sendAndCollect(
            rules: [Rule(name: "twice", match: RuleMatch(direction: .upstream), fault: DatagramDuplicateFault(copies: 1))],
            numbers: 0..<20,
            expect: 40,
            events: events
        )
        let numbers = arrived.compactMap(TestDatagram.number(of:))
        #expect(numbers == (0..<20).flatMap { [UInt64($0), UInt64($0)] })
        #expect(events.events.filter { $0.action == "duplicate" }.count == 20)
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.datagramsFromClient == 20 && close.datagramsDuplicatedUpstream == 20 && close.datagramsToUpstream == 40)
    }

    @Test func reorderingIsVisibleInSequenceNumbers() async throws {
        let events = MemoryEventSink()
        let arrived = try await Self.sendAndCollect(
            rules: [
                // Held until two more pass: the 30 s bound only ends a hang (at 1 s, a
                // loaded run's slow sends could release it in order).
                Rule(name: "swap", match: .datagrams(3...3, direction: .upstream), fault: DatagramReorderFault(after: 2, delay: .seconds(30)))
            ],
            numbers: 0..<10,
            expect: 10,
            events: events
        )
        #expect(arrived.compactMap(TestDatagram.number(of:)) == [0, 1, 2, 4, 5, 3, 6, 7, 8, 9])
        #expect(events.events.filter { $0.type == .fault }.map { "\($0.action ?? "")@\($0.unit ?? 99)" } == ["reorder@3", "released@3"])
    }

    /// Same seed, same traffic: the same events, field for field (but the clock).
    @Test func theSameSeedGivesTheSameEventsTwice() async throws {
        let upstream = RuleMatch(direction: .upstream)
        let rules = [
            Rule(name: "lose", match: upstream, probability: 0.1, fault: DatagramLossFault()),
            Rule(name: "twice", match: upstream, probability: 0.1, fault: DatagramDuplicateFault()),
            Rule(name: "flip", match: upstream, probability: 0.1, fault: DatagramCorruptFault(rate: 0.01)),
            Rule(name: "swap", match: upstream, probability: 0.1, fault: DatagramReorderFault(after: 2, delay: .seconds(30))),
        ]
        func run() async throws -> (events: [Event], arrived: [ByteBuffer]) {
            var decider = try UDPDecider(rules, seed: 77)
            let decisions = (0..<100).map { _ in decider.decide().map(\.effect) }
            // Held datagrams still waiting at the end leave only at shutdown.
            var expected = 0
            for (index, effects) in decisions.enumerated() where !effects.contains(.datagram(.drop)) {
                let copies = effects.contains(.datagram(.duplicate(copies: 1, gap: .zero))) ? 2 : 1
                let held = effects.contains(.datagram(.reorder(after: 2, delay: .seconds(30))))
                if !held || index + 2 < decisions.count { expected += copies }
            }
            let events = MemoryEventSink()
            let arrived = try await Self.sendAndCollect(rules: rules, seed: 77, numbers: 0..<100, expect: expected, events: events)
            // Accounting balances under every fault at once: in + copies = out + dropped.
            let close = try #require(events.events.first { $0.type == .connectionClose })
            #expect(close.datagramsFromClient == 100)
            #expect(
                (close.datagramsFromClient ?? -1) + (close.datagramsDuplicatedUpstream ?? -1)
                    == (close.datagramsToUpstream ?? -1) + (close.datagramsDroppedUpstream ?? -1)
            )
            #expect(
                (close.bytesFromClient ?? -1) + (close.duplicatedUpstream ?? -1)
                    == (close.bytesToUpstream ?? -1) + (close.droppedUpstream ?? -1)
            )
            let stripped = events.events.filter { $0.type == .fault }.map { event -> Event in
                var event = event
                event.mono = nil
                if event.action == "released" { event.params?["held_for"] = nil }
                return event
            }
            return (stripped, arrived)
        }
        let first = try await run()
        let second = try await run()
        #expect(first.events == second.events)
        #expect(first.arrived == second.arrived)
        #expect(Set(first.events.compactMap(\.action)) == ["drop", "duplicate", "corrupt", "reorder", "released"])
    }

    @Test func probabilisticReorderStillDeliversEverything() async throws {
        let arrived = try await Self.sendAndCollect(
            rules: [
                Rule(
                    name: "shuffle",
                    match: RuleMatch(direction: .upstream),
                    probability: 0.3,
                    // 2 s, not 20 ms: slow sends on a loaded machine must not release
                    // every held datagram in order.
                    fault: DatagramReorderFault(after: 3, delay: .seconds(2))
                )
            ],
            numbers: 0..<100,
            expect: 100
        )
        let numbers = arrived.compactMap(TestDatagram.number(of:))
        #expect(Set(numbers) == Set(0..<100))
        #expect(numbers != numbers.sorted())
    }

    @Test func corruptionFlipsBitsAndKeepsTheLength() async throws {
        let arrived = try await Self.sendAndCollect(
            rules: [Rule(name: "flip", match: RuleMatch(direction: .upstream), fault: DatagramCorruptFault(rate: 0.01))],
            numbers: 0..<20,
            size: 100,
            expect: 20
        )
        #expect(arrived.count == 20)
        for buffer in arrived {
            #expect(buffer.readableBytes == 100)
        }
        let originals = Set((0..<20).map { TestDatagram.numbered(UInt64($0), size: 100) })
        #expect(Set(arrived).isDisjoint(with: originals))
    }

    @Test func rateDropsTheExcessOfABurst() async throws {
        let events = MemoryEventSink()
        let receiver = try await TestDatagram.bind()
        let receiverPort = try #require(receiver.channel.localAddress?.port)
        let rules = [Rule(name: "narrow", match: RuleMatch(direction: .upstream), fault: DatagramRateFault(DatagramRate(packetsPerSecond: 2, burst: 1)))]
        let fromFirst = try await withUDPProxy(upstreamPort: receiverPort, rules: rules, events: events) { _, proxy in
            try await receiver.executeThenClose { upstreamInbound, _ in
                var upstream = upstreamInbound.makeAsyncIterator()
                let first = try await TestDatagram.bind()
                let second = try await TestDatagram.bind()
                try await first.executeThenClose { _, outbound in
                    for number in 0..<20 {
                        try await outbound.write(Envelope(remoteAddress: proxy, data: TestDatagram.numbered(UInt64(number), tag: 1)))
                    }
                }
                // The marker: another client, so another session with a full bucket.
                try await second.executeThenClose { _, outbound in
                    try await outbound.write(Envelope(remoteAddress: proxy, data: TestDatagram.numbered(999, tag: 2)))
                }
                var fromFirst = 0
                while let envelope = try await upstream.next(), TestDatagram.tag(of: envelope.data) == 1 {
                    fromFirst += 1
                }
                return fromFirst
            }
        }
        let rateDrops = events.events.filter { $0.kind == "rate" && $0.action == "drop" && $0.conn == 0 }
        #expect(fromFirst >= 1 && fromFirst < 20)
        #expect(fromFirst + rateDrops.count == 20)
    }

    @Test func rateQueuesTheExcessUpToItsBound() async throws {
        let events = MemoryEventSink()
        let receiver = try await TestDatagram.bind()
        let receiverPort = try #require(receiver.channel.localAddress?.port)
        let rules = [
            Rule(
                name: "queue",
                match: RuleMatch(direction: .upstream),
                fault: DatagramRateFault(DatagramRate(packetsPerSecond: 20, burst: 1, excess: .queue, queueLimit: 3))
            )
        ]
        let arrived = try await withUDPProxy(upstreamPort: receiverPort, rules: rules, events: events) { _, proxy in
            try await receiver.executeThenClose { upstreamInbound, _ in
                var upstream = upstreamInbound.makeAsyncIterator()
                let client = try await TestDatagram.bind()
                try await client.executeThenClose { _, outbound in
                    for number in 0..<10 {
                        try await outbound.write(Envelope(remoteAddress: proxy, data: TestDatagram.numbered(UInt64(number))))
                    }
                }
                // Queued datagrams drain at the rate; await until every datagram the
                // proxy did not drop has arrived.
                var arrived: [UInt64] = []
                while arrived.count + events.events.filter({ $0.action == "drop" }).count < 10,
                    let envelope = try await upstream.next()
                {
                    arrived.append(TestDatagram.number(of: envelope.data) ?? 0)
                }
                return arrived
            }
        }
        let queued = events.events.filter { $0.action == "queue" }
        let dropped = events.events.filter { $0.action == "drop" }
        #expect(!queued.isEmpty && queued.count <= 9)
        #expect(!dropped.isEmpty)
        #expect(arrived.count + dropped.count == 10)
        #expect(arrived == arrived.sorted())
        #expect(queued.compactMap { $0.params?["queue_depth"].flatMap { Int($0) } }.allSatisfy { $0 <= 3 })
    }

    @Test func repliesReachTheRightClientAmongSeveral() async throws {
        let echo = try await TestDatagramEcho.start()
        let events = MemoryEventSink()
        let results = try await withUDPProxy(upstreamPort: echo.port, events: events) { _, proxy in
            try await withThrowingTaskGroup(of: (UInt8, [UInt8], [UInt64]).self) { group in
                for tag in UInt8(1)...5 {
                    group.addTask {
                        let client = try await TestDatagram.bind()
                        return try await client.executeThenClose { inbound, outbound in
                            var replies = inbound.makeAsyncIterator()
                            var tags: [UInt8] = []
                            var numbers: [UInt64] = []
                            for number in UInt64(0)..<20 {
                                try await outbound.write(Envelope(remoteAddress: proxy, data: TestDatagram.numbered(number, tag: tag)))
                                let reply = try #require(try await replies.next())
                                tags.append(TestDatagram.tag(of: reply.data) ?? 0)
                                numbers.append(TestDatagram.number(of: reply.data) ?? 0)
                            }
                            return (tag, tags, numbers)
                        }
                    }
                }
                var results: [(UInt8, [UInt8], [UInt64])] = []
                for try await result in group { results.append(result) }
                return results
            }
        }
        #expect(results.count == 5)
        for (tag, tags, numbers) in results {
            #expect(tags == Array(repeating: tag, count: 20))
            #expect(numbers == Array(0..<20))
        }
        let opens = events.events.filter { $0.type == .connectionOpen }
        #expect(opens.count == 5 && Set(opens.compactMap(\.client)).count == 5)
        #expect(Set(opens.compactMap(\.conn)) == Set(0..<5))
        await echo.stop()
    }

    /// Timing-proof: it awaits only what the proxy does on arrival (forwarding) and
    /// events, never a reply that an idle timeout could race.
    @Test func anIdleSessionClosesAndTheNextDatagramOpensAnother() async throws {
        let events = AwaitableEventSink()
        let receiver = try await TestDatagram.bind()
        let receiverPort = try #require(receiver.channel.localAddress?.port)
        try await withUDPProxy(upstreamPort: receiverPort, idleTimeout: .milliseconds(200), events: events) { proxy, address in
            try await receiver.executeThenClose { upstreamInbound, _ in
                var upstream = upstreamInbound.makeAsyncIterator()
                let client = try await TestDatagram.bind()
                try await client.executeThenClose { _, outbound in
                    try await outbound.write(Envelope(remoteAddress: address, data: TestDatagram.numbered(1)))
                    let first = try #require(try await upstream.next())
                    #expect(TestDatagram.number(of: first.data) == 1)
                    let close = try await events.first { $0.type == .connectionClose }
                    #expect(close.reason == "idle_timeout" && close.conn == 0)
                    #expect(close.datagramsFromClient == 1 && close.datagramsToUpstream == 1)
                    #expect(proxy.openSessions == 0)
                    try await outbound.write(Envelope(remoteAddress: address, data: TestDatagram.numbered(2)))
                    let second = try #require(try await upstream.next())
                    #expect(TestDatagram.number(of: second.data) == 2)
                    let reopened = try await events.first { $0.type == .connectionOpen && $0.conn == 1 }
                    #expect(reopened.client == close.client)
                }
            }
        }
    }

    @Test func theSessionCapDropsNewClientsUntilASessionCloses() async throws {
        let events = AwaitableEventSink()
        let receiver = try await TestDatagram.bind()
        let receiverPort = try #require(receiver.channel.localAddress?.port)
        // The first session must still be open when the second client's datagram
        // arrives: a generous idle timeout keeps that true on a loaded machine (with
        // 1 s, a loaded run's starved event loops could let it idle out first, and then
        // nothing was refused). The test then waits those 5 s for it to idle out.
        try await withUDPProxy(upstreamPort: receiverPort, idleTimeout: .seconds(5), maxSessions: 1, events: events) { _, address in
            try await receiver.executeThenClose { upstreamInbound, _ in
                var upstream = upstreamInbound.makeAsyncIterator()
                let first = try await TestDatagram.bind()
                let second = try await TestDatagram.bind()
                try await first.executeThenClose { _, firstOutbound in
                    try await firstOutbound.write(Envelope(remoteAddress: address, data: TestDatagram.numbered(1)))
                    #expect(TestDatagram.number(of: try #require(try await upstream.next()).data) == 1)
                    try await second.executeThenClose { _, secondOutbound in
                        try await secondOutbound.write(Envelope(remoteAddress: address, data: TestDatagram.numbered(10)))
                        let refusing = try await withTimeout(.seconds(30)) { try await events.first { $0.type == .sessionLimit && $0.action == "refusing" } }
                        #expect(refusing.count == 1)
                        // The first session idles out; the spell ends, having refused one.
                        let accepting = try await withTimeout(.seconds(30)) { try await events.first { $0.type == .sessionLimit && $0.action == "accepting" } }
                        #expect(accepting.count == 1 && accepting.bytes == 32)
                        try await secondOutbound.write(Envelope(remoteAddress: address, data: TestDatagram.numbered(11)))
                        // 10 never went through: the next datagram upstream is 11.
                        #expect(TestDatagram.number(of: try #require(try await upstream.next()).data) == 11)
                    }
                }
            }
        }
        #expect(events.events.filter { $0.type == .sessionLimit }.count == 2)
    }

    /// A rule added, changed and removed while the proxy runs takes effect on the open
    /// session's next datagram: one client socket throughout, one session, and each
    /// fault event names the plan it came from.
    @Test func aPlanChangeReachesAnOpenSession() async throws {
        let events = AwaitableEventSink()
        let receiver = try await TestDatagram.bind()
        let receiverPort = try #require(receiver.channel.localAddress?.port)
        func copies(_ copies: Int) -> Profile {
            udpProfile([Rule(name: "echo", match: RuleMatch(direction: .upstream), fault: DatagramDuplicateFault(copies: copies))], name: "copies-\(copies)")
        }
        // (the profile put in force before sending, the datagram, how many arrive)
        let steps: [(profile: Profile?, number: UInt64, arrive: Int)] = [
            (nil, 0, 1), (copies(1), 1, 2), (copies(2), 2, 3), (udpProfile([], name: "calm"), 3, 1), (nil, 4, 1),
        ]
        let arrived = try await withUDPProxy(upstreamPort: receiverPort, events: events) { proxy, address in
            try await receiver.executeThenClose { upstreamInbound, _ in
                var upstream = upstreamInbound.makeAsyncIterator()
                let client = try await TestDatagram.bind()
                return try await client.executeThenClose { _, outbound in
                    var arrived: [[UInt64]] = []
                    for step in steps {
                        if let profile = step.profile { try await proxy.apply(profile) }
                        try await outbound.write(Envelope(remoteAddress: address, data: TestDatagram.numbered(step.number)))
                        var numbers: [UInt64] = []
                        for _ in 0..<step.arrive {
                            numbers.append(TestDatagram.number(of: try #require(try await upstream.next()).data) ?? 99)
                        }
                        arrived.append(numbers)
                    }
                    return arrived
                }
            }
        }
        // 4 arrives alone right after 3: no copy of 3 was on its way.
        #expect(arrived == [[0], [1, 1], [2, 2, 2], [3], [4]])
        _ = try await events.first { $0.type == .connectionClose }
        let changes = events.events.filter { $0.type == .planChange }
        #expect(changes.map(\.plan) == [2, 3, 4] && changes.map(\.profile) == ["copies-1", "copies-2", "calm"])
        let faults = events.events.filter { $0.type == .fault }
        #expect(faults.map { "\($0.unit ?? 99) \($0.action ?? "") plan \($0.plan ?? 0) copies \($0.params?["copies"] ?? "")" } == ["1 duplicate plan 2 copies 1", "2 duplicate plan 3 copies 2"])
        #expect(events.events.filter { $0.type == .connectionOpen }.count == 1)
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.datagramsFromClient == 5 && close.datagramsDuplicatedUpstream == 3 && close.datagramsToUpstream == 8)
    }

    /// A profile for the other transport is refused, and the plan in force stays.
    @Test func aTCPProfileIsRefusedAndThePlanStays() async throws {
        let receiver = try await TestDatagram.bind()
        let receiverPort = try #require(receiver.channel.localAddress?.port)
        try await withUDPProxy(upstreamPort: receiverPort) { proxy, _ in
            let tcp = Profile(name: "cut", description: "tcp", rules: [Rule(name: "cut", fault: SeverFault())])
            await #expect(throws: ProfileError.self) { try await proxy.apply(tcp) }
            #expect(proxy.plan.number == 1)
        }
        try await receiver.channel.close()
    }
}
