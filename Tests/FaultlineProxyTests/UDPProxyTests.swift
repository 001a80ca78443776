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
    static func pacedDelivery(rules: [DatagramFaultRule], seed: UInt64, count: Int) async throws -> Delivery {
        let plan = try DatagramFaultPlan(rules: rules, seed: seed)
        var track = plan.track(session: 0, direction: .upstream)
        var survives: [Bool] = (0..<count).map { _ in plan.decide(bytes: 32, track: &track).drop == nil }
        // The marker: the first ordinal from `count` on that the plan lets through.
        while survives.count == count || survives.last == false {
            survives.append(plan.decide(bytes: 32, track: &track).drop == nil)
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
        let dropped = events.events.filter { $0.type == .fault && $0.action == "dropped" }.compactMap(\.unit)
        return Delivery(
            arrived: arrived.filter { $0 < count },
            droppedByEvents: dropped.filter { $0 < count },
            close: close
        )
    }

    @Test func twentyPercentIndependentLossDropsAStableFifthOfTenThousand() async throws {
        let rules = [DatagramFaultRule(name: "lossy", direction: .upstream, probability: 0.2, fault: .loss(.independent))]
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
        let rules = [DatagramFaultRule(name: "bursty", direction: .upstream, fault: .loss(.gilbertElliott(p: 0.05, r: 0.3)))]
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
        rules: [DatagramFaultRule],
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
            rules: [DatagramFaultRule(name: "twice", direction: .upstream, fault: .duplicate(DatagramDuplicate(copies: 1)))],
            numbers: 0..<20,
            expect: 40,
            events: events
        )
        let numbers = arrived.compactMap(TestDatagram.number(of:))
        #expect(numbers == (0..<20).flatMap { [UInt64($0), UInt64($0)] })
        #expect(events.events.filter { $0.action == "duplicated" }.count == 20)
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.datagramsFromClient == 20 && close.datagramsDuplicatedUpstream == 20 && close.datagramsToUpstream == 40)
    }

    @Test func reorderingIsVisibleInSequenceNumbers() async throws {
        let events = MemoryEventSink()
        let arrived = try await Self.sendAndCollect(
            rules: [
                DatagramFaultRule(
                    name: "swap",
                    direction: .upstream,
                    match: DatagramMatch(datagrams: 3...3),
                    fault: .reorder(DatagramReorder(after: 2))
                )
            ],
            numbers: 0..<10,
            expect: 10,
            events: events
        )
        #expect(arrived.compactMap(TestDatagram.number(of:)) == [0, 1, 2, 4, 5, 3, 6, 7, 8, 9])
        #expect(events.events.filter { $0.type == .fault }.map { "\($0.action ?? "")@\($0.unit ?? 99)" } == ["held@3", "released@3"])
    }

    /// Same seed, same traffic: the same events, field for field (but the clock).
    @Test func theSameSeedGivesTheSameEventsTwice() async throws {
        let rules = [
            DatagramFaultRule(name: "lose", direction: .upstream, probability: 0.1, fault: .loss(.independent)),
            DatagramFaultRule(name: "twice", direction: .upstream, probability: 0.1, fault: .duplicate(DatagramDuplicate())),
            DatagramFaultRule(name: "flip", direction: .upstream, probability: 0.1, fault: .corrupt(DatagramCorrupt(rate: 0.01))),
            DatagramFaultRule(
                name: "swap",
                direction: .upstream,
                probability: 0.1,
                fault: .reorder(DatagramReorder(after: 2, delay: .seconds(30)))
            ),
        ]
        func run() async throws -> (events: [Event], arrived: [ByteBuffer]) {
            let plan = try DatagramFaultPlan(rules: rules, seed: 77)
            var track = plan.track(session: 0, direction: .upstream)
            let decisions = (0..<100).map { _ in plan.decide(bytes: 32, track: &track) }
            // Held datagrams still waiting at the end leave only at shutdown.
            var expected = 0
            for (index, decision) in decisions.enumerated() where decision.drop == nil {
                let copies = 1 + (decision.duplicate?.value.copies ?? 0)
                if decision.hold == nil || index + 2 < decisions.count { expected += copies }
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
        #expect(Set(first.events.compactMap(\.action)) == ["dropped", "duplicated", "corrupted", "held", "released"])
    }

    @Test func probabilisticReorderStillDeliversEverything() async throws {
        let arrived = try await Self.sendAndCollect(
            rules: [
                DatagramFaultRule(
                    name: "shuffle",
                    direction: .upstream,
                    probability: 0.3,
                    fault: .reorder(DatagramReorder(after: 3, delay: .milliseconds(20)))
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
            rules: [DatagramFaultRule(name: "flip", direction: .upstream, fault: .corrupt(DatagramCorrupt(rate: 0.01)))],
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
        let rules = [DatagramFaultRule(name: "narrow", direction: .upstream, fault: .rate(DatagramRate(packetsPerSecond: 2, burst: 1)))]
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
        let rateDrops = events.events.filter { $0.kind == "rate" && $0.action == "dropped" && $0.conn == 0 }
        #expect(fromFirst >= 1 && fromFirst < 20)
        #expect(fromFirst + rateDrops.count == 20)
    }

    @Test func rateQueuesTheExcessUpToItsBound() async throws {
        let events = MemoryEventSink()
        let receiver = try await TestDatagram.bind()
        let receiverPort = try #require(receiver.channel.localAddress?.port)
        let rules = [
            DatagramFaultRule(
                name: "queue",
                direction: .upstream,
                fault: .rate(DatagramRate(packetsPerSecond: 20, burst: 1, excess: .queue, queueLimit: 3))
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
                while arrived.count + events.events.filter({ $0.action == "dropped" }).count < 10,
                    let envelope = try await upstream.next()
                {
                    arrived.append(TestDatagram.number(of: envelope.data) ?? 0)
                }
                return arrived
            }
        }
        let queued = events.events.filter { $0.action == "queued" }
        let dropped = events.events.filter { $0.action == "dropped" }
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
        // arrives: a generous idle timeout keeps that true on a loaded machine.
        try await withUDPProxy(upstreamPort: receiverPort, idleTimeout: .seconds(1), maxSessions: 1, events: events) { _, address in
            try await receiver.executeThenClose { upstreamInbound, _ in
                var upstream = upstreamInbound.makeAsyncIterator()
                let first = try await TestDatagram.bind()
                let second = try await TestDatagram.bind()
                try await first.executeThenClose { _, firstOutbound in
                    try await firstOutbound.write(Envelope(remoteAddress: address, data: TestDatagram.numbered(1)))
                    #expect(TestDatagram.number(of: try #require(try await upstream.next()).data) == 1)
                    try await second.executeThenClose { _, secondOutbound in
                        try await secondOutbound.write(Envelope(remoteAddress: address, data: TestDatagram.numbered(10)))
                        let refusing = try await events.first { $0.type == .sessionLimit && $0.action == "refusing" }
                        #expect(refusing.count == 1)
                        // The first session idles out; the spell ends, having refused one.
                        let accepting = try await events.first { $0.type == .sessionLimit && $0.action == "accepting" }
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
}
