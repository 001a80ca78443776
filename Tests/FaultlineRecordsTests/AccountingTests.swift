import FaultlineCore
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import Logging
import NIOCore
import NIOPosix
import Testing

@Suite(.timeLimit(.minutes(1)))
struct AccountingTests {
    static func close(_ conn: UInt64, _ fromClient: Int, _ toUpstream: Int, _ fromUpstream: Int, _ toClient: Int, dropped: (Int, Int)? = nil) -> Event {
        var event = Event(.connectionClose)
        event.proxy = "p"
        event.conn = conn
        event.bytesFromClient = fromClient
        event.bytesToUpstream = toUpstream
        event.bytesFromUpstream = fromUpstream
        event.bytesToClient = toClient
        event.droppedUpstream = dropped?.0
        event.droppedDownstream = dropped?.1
        return event
    }

    static func open(_ conn: UInt64) -> Event {
        var event = Event(.connectionOpen)
        event.proxy = "p"
        event.conn = conn
        return event
    }

    @Test func balancedBooksHaveNoViolations() {
        let events = [Self.open(0), Self.close(0, 10, 10, 5, 5), Self.open(1), Self.close(1, 10, 4, 5, 0, dropped: (6, 5))]
        #expect(Accounting.check(events).isEmpty)
    }

    @Test func unaccountedBytesAndUnclosedConnectionsAreViolations() {
        let events = [Self.open(0), Self.close(0, 10, 7, 5, 5, dropped: (2, 0)), Self.open(1)]
        let violations = Accounting.check(events)
        #expect(violations.map(\.description) == [
            "proxy p conn 1: opened but never closed: its bytes are not accounted",
            "proxy p conn 0 upstream: received 10 bytes but forwarded 7 and dropped 2: 1 bytes unaccounted",
        ])
    }

    /// A UDP session sends its duplicates on the same socket: they are in what it
    /// forwarded, in bytes and in datagrams, and the books still catch a lost datagram.
    @Test func udpSessionsCountDuplicatesAsForwarded() {
        var session = Self.close(0, 800, 824, 824, 840, dropped: (0, 8))
        session.duplicatedUpstream = 24
        session.duplicatedDownstream = 24
        (session.datagramsFromClient, session.datagramsToUpstream, session.datagramsDuplicatedUpstream) = (100, 103, 3)
        (session.datagramsFromUpstream, session.datagramsToClient, session.datagramsDuplicatedDownstream, session.datagramsDroppedDownstream) = (103, 105, 3, 1)
        #expect(Accounting.check([Self.open(0), session]).isEmpty)
        session.datagramsToClient = 104
        session.bytesToClient = 832
        #expect(Accounting.check([Self.open(0), session]).map(\.description) == [
            "proxy p conn 0 downstream: received 824 bytes, with 24 duplicated, but forwarded 832 and dropped 8: 8 bytes unaccounted",
            "proxy p conn 0 downstream: received 103 datagrams, with 3 duplicated, but forwarded 104 and dropped 1",
        ])
    }

    /// A connection's `message` or `fault` with no `conn_open` before it means its record
    /// was lost (once per connection); a refused client is never let in, so its `refuse`
    /// fault stands alone, and events after the close are the books' business.
    @Test func eventsOfAConnectionNeverOpenedAreAViolation() {
        func event(_ type: Event.Kind, _ conn: UInt64, unit: UInt64? = nil, kind: String? = nil) -> Event {
            var event = Event(type)
            (event.proxy, event.conn, event.unit, event.kind) = ("p", conn, unit, kind)
            return event
        }
        let events = [
            event(.fault, 0, kind: "refuse"),
            event(.message, 1, unit: 0), event(.fault, 1, unit: 0, kind: "delay"),
            Self.open(2), event(.message, 2, unit: 0), Self.close(2, 0, 0, 0, 0),
        ]
        #expect(Accounting.check(events).map(\.description) == [
            "proxy p conn 1: its message event (unit 0) comes with no conn_open before it: the connection's record is lost"
        ])
    }

    @Test func aSecondCloseIsAViolation() {
        let events = [Self.open(0), Self.close(0, 1, 1, 0, 0), Self.close(0, 1, 1, 0, 0)]
        #expect(Accounting.check(events).map(\.description) == ["proxy p conn 0: closed twice"])
    }

    /// Streaming: the ledger holds the connections still open and forgets each at its
    /// `conn_close`, so a long log is checked in the memory of a short one.
    @Test func theLedgerForgetsClosedConnections() throws {
        var accounting = Accounting()
        for conn in UInt64(0)..<20_000 {
            accounting.add(Self.open(conn))
            if conn >= 2 { accounting.add(Self.close(conn - 2, 10, 10, 5, 5)) }
        }
        let open = try #require(Mirror(reflecting: accounting).descendant("open") as? (any Collection))
        #expect(open.count == 2)
        let closed = try #require(Mirror(reflecting: accounting).descendant("closed") as? [String?: RangeSet<UInt64>])
        #expect(closed["p"]?.ranges.count == 1)
        #expect(accounting.finish().map(\.description) == [
            "proxy p conn 19998: opened but never closed: its bytes are not accounted",
            "proxy p conn 19999: opened but never closed: its bytes are not accounted",
        ])
    }

    /// `add` one at a time and `init(events:)` agree, accounting included.
    @Test func aStreamedSummaryIsTheWholeOne() {
        var events: [Event] = []
        for conn in UInt64(0)..<50 {
            var open = Self.open(conn)
            open.mono = conn * 1_000
            events.append(open)
            var message = Event(.message)
            message.direction = conn % 2 == 0 ? .upstream : .downstream
            message.bytes = Int(conn)
            events.append(message)
            var close = Self.close(conn, 10, conn == 7 ? 9 : 10, 5, 5)
            close.mono = conn * 1_000 + 500 + conn
            close.reason = "eof"
            events.append(close)
        }
        var streamed = LogSummary()
        for event in events { streamed.add(event) }
        streamed.finish()
        let whole = LogSummary(events: events)
        #expect(streamed == whole)
        #expect(streamed.durations.count == 50 && streamed.durations.isExact)
        #expect(streamed.durations.min == 500 && streamed.durations.max == 549 && streamed.durations.median == 525)
        #expect(streamed.text.contains("durations:    min 500ns, median 525ns, max 549ns"))
        #expect(streamed.accounting.map(\.description) == [
            "proxy p conn 7 upstream: received 10 bytes but forwarded 9 and dropped 0: 1 bytes unaccounted"
        ])
    }

    /// A client a `refuse` rule turned away is no connection, but the summary says it was
    /// there (a trial read "0 connections" next to a refuse fault), and its books are not
    /// asked for.
    @Test func aRefusedClientIsCountedApart() {
        var refuse = Event(.fault)
        (refuse.proxy, refuse.conn, refuse.kind, refuse.action, refuse.rule) = ("p", 0, "refuse", "reset", "turn-away")
        var close = Self.close(1, 4, 4, 2, 2)
        close.reason = "closed"
        let summary = LogSummary(events: [refuse, Self.open(1), close])
        #expect(summary.text.contains("connections:  1 (1 closed); 1 refused (turned away by a refuse rule, never let in)"), "\(summary.text)")
        #expect(summary.accounting.isEmpty, "\(summary.accounting)")
    }

    /// A reorder is one fault with two events (held, then `released`): counted once.
    @Test func aReleasedHoldIsNotASecondFault() {
        var held = Event(.fault)
        held.proxy = "p"
        held.conn = 0
        held.rule = "shuffle"
        held.kind = "reorder"
        held.action = "held"
        held.bytes = 40
        var released = held
        released.action = "released"
        let summary = LogSummary(events: [held, released])
        #expect(summary.faults.map(\.count) == [1])
        #expect(summary.faults.map(\.bytes) == [40])
    }

    /// Past `exactLimit` lifetimes the median comes from the histogram: within 0.1 %,
    /// marked `~`; min and max stay exact.
    @Test func durationsStayBoundedAndClose() {
        var durations = LogSummary.Durations()
        let count = LogSummary.Durations.exactLimit * 3
        // A spread from 1 ms to about 4 s, added out of order.
        let values = (0..<count).map { UInt64(1_000_000) + UInt64(($0 &* 7919) % count) * 20_011 }
        for value in values { durations.add(value) }
        let exact = values.sorted()[count / 2]
        let median = durations.median ?? 0
        #expect(!durations.isExact)
        #expect(durations.min == values.min() && durations.max == values.max() && durations.count == count)
        #expect(Double(median > exact ? median - exact : exact - median) <= Double(exact) / 1000)
        let samples = Mirror(reflecting: durations).descendant("samples") as? [UInt64]
        #expect(samples?.isEmpty == true)
    }

    /// A real run through the proxy, logged to a file: read back, every connection's
    /// books balance and the totals are what the clients sent and received.
    @Test func aRealPassthroughRunBalances() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("run.jsonl")
        let log = try EventLog(path: path)
        let server = try await TestServer.echo()
        let proxy = TCPProxy(
            configuration: TCPProxyConfiguration(
                name: "acct",
                listen: HostPort(host: "127.0.0.1", port: 0),
                upstream: HostPort(host: "127.0.0.1", port: server.port),
                connectTimeout: testDialTimeout
            ),
            group: MultiThreadedEventLoopGroup.singleton,
            events: log,
            logger: Logger(label: "faultline.test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let port = try #require(try await proxy.start().port)
        let sizes = (0..<8).map { 1000 + $0 * 7919 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, size) in sizes.enumerated() {
                group.addTask {
                    let client = try await TestClient.connect(port: port)
                    try await client.executeThenClose { inbound, outbound in
                        var pattern = PatternBytes(seed: UInt64(index), total: size)
                        while let chunk = pattern.next(size: 4096) { try await outbound.write(chunk) }
                        outbound.finish()
                        let echoed = try await TestClient.readAll(inbound)
                        #expect(echoed.readableBytes == size)
                    }
                }
            }
            try await group.waitForAll()
        }
        await proxy.shutdown(grace: .seconds(1))
        try await log.close()
        await server.stop()

        let events = try EventLogReader.read(path: path)
        #expect(Accounting.check(events).isEmpty)
        let closes = events.filter { $0.type == .connectionClose }
        #expect(closes.count == sizes.count)
        #expect(closes.map { $0.bytesFromClient ?? 0 }.sorted() == sizes)
        #expect(events.first?.type == .proxyStart && events.last?.type == .proxyStop)
        #expect(events.allSatisfy { $0.time != nil })
        let summary = LogSummary(events: events)
        #expect(summary.connections == sizes.count)
        #expect(summary.bytesToClient == sizes.reduce(0, +))
        #expect(summary.text.contains("accounting:   balanced"))
    }
}
