import FaultlineCore
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import NIOCore
import Pcap
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `faultline proxy --udp --profile ... --seed ... --log ... --pcap ...`, as a user runs
/// it: the faults the log records are the ones the profile and seed decide, and the log
/// and the capture account for every datagram sent.
@Suite(.timeLimit(.minutes(1)))
struct UDPProfileCommandTests {
    /// What `lossy-udp` with `seed` does to datagrams 0, 1, ... of one session, worked
    /// out from the profile alone: the test's oracle.
    struct Expected {
        var sent: Int
        var lostUpstream: [UInt64] = []
        /// Downstream ordinals count only the replies that reached the proxy.
        var lostDownstream: [UInt64] = []
        /// The numbers of the datagrams whose echo reaches the client, in order.
        var delivered: [UInt64] = []

        init(profile: Profile, seed: UInt64, atLeast count: Int) throws {
            let faults = FaultPlan(profile: try profile.forDatagrams(), seed: seed).connection(0, client: nil)
            var chains = ChainStates()
            var ordinals: [Event.Direction: UInt64] = [:]
            // Whether the next datagram in `direction` is lost, as the proxy decides it.
            func lost(_ direction: Event.Direction) -> (UInt64, Bool) {
                let ordinal = ordinals[direction, default: 0]
                ordinals[direction] = ordinal + 1
                let decisions = faults.decideMessage(
                    direction: direction, facts: MessageFacts(ordinal: ordinal), sinceProxyStart: .zero, sinceOpen: .zero, chains: &chains
                )
                return (ordinal, decisions.contains { $0.effect == .datagram(.drop) })
            }
            var number: UInt64 = 0
            // Go on until the last datagram comes back: its echo then proves the proxy
            // handled every datagram before it, lost or not.
            while number < count || self.delivered.last != number - 1 {
                precondition(number < count + 1000, "no delivered datagram in 1000; the profile loses everything")
                let upward = lost(.upstream)
                if upward.1 {
                    self.lostUpstream.append(upward.0)
                } else {
                    let downward = lost(.downstream)
                    if downward.1 { self.lostDownstream.append(downward.0) } else { self.delivered.append(number) }
                }
                number += 1
            }
            self.sent = Int(number)
        }

        static let size = 64
    }

    struct Run {
        var events: [Event]
        var received: [UInt64]

        /// The fault events, without times: what the seed decided. Each direction's in
        /// log order, upstream's first: how the two directions interleave in the log
        /// depends on timing (seen once with both cores busy), their decisions do not.
        var faults: [String] {
            let faults = self.events.filter { $0.type == .fault }
            return [Event.Direction.upstream, .downstream].flatMap { direction in
                faults.filter { $0.direction == direction }.map {
                    "\($0.conn ?? 99) \($0.direction?.rawValue ?? "-") \($0.unit ?? 0) \($0.rule ?? "-") \($0.kind ?? "-") \($0.action ?? "-")"
                }
            }
        }
    }

    /// Sends the expected traffic through the binary, a batch at a time (so no socket
    /// buffer overflows), and awaits each batch's echoes before the next.
    static func run(seed: UInt64, expected: Expected, directory: URL, pcap: String? = nil) async throws -> Run {
        let log = directory.appendingPathComponent("run-\(seed)-\(UUID().uuidString).jsonl").path
        let echo = try await TestDatagramEcho.start()
        var arguments = [
            "proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)",
            "--profile", "lossy-udp", "--seed", "\(seed)", "--log", log,
        ]
        if let pcap { arguments += ["--pcap", pcap] }
        let proxy = try FaultlineBinary.start(arguments)
        let port = try #require(await proxy.listeningPort())
        let client = try await TestDatagram.bind()
        let received = try await client.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()
            var received: [UInt64] = []
            let batch = 16
            for start in stride(from: 0, to: expected.sent, by: batch) {
                let numbers = UInt64(start)..<UInt64(min(start + batch, expected.sent))
                for number in numbers {
                    let payload = TestDatagram.numbered(number, size: Expected.size)
                    try await outbound.write(TestDatagram.Envelope(remoteAddress: try TestDatagram.loopback(port), data: payload))
                }
                let awaited = expected.delivered.filter { $0 < numbers.upperBound }.count
                while received.count < awaited {
                    // A missing echo would hang here; the suite's time limit guards that.
                    let reply = try #require(try await replies.next())
                    received.append(try #require(TestDatagram.number(of: reply.data)))
                }
            }
            return received
        }
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)
        await echo.stop()
        return Run(events: try EventLogReader.read(path: log), received: received)
    }

    /// A profile's schedule and `match.client` reach the UDP engine: in the first phase
    /// only the rule for clients in 127.0.0.2/32 acts, so that client's datagrams are
    /// lost while another client's all come back, and the rule for everyone, scheduled
    /// for later, never acts.
    @Test func theScheduleAndTheClientMatchSelectWhichRulesActOnWhichSessions() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let profilePath = directory.appendingPathComponent("phased.yaml").path
        try """
            faultline: 1
            name: phased
            description: one far client loses everything for an hour, then everyone does
            transport: udp
            schedule:
              phases:
                - {name: first-hour, duration: 1h, rules: [far-away]}
                - {name: later, rules: [everyone]}
            rules:
              - {name: far-away, match: {client: 127.0.0.2/32}, fault: {kind: loss}}
              - {name: everyone, fault: {kind: loss}}

            """.write(toFile: profilePath, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("phased.jsonl").path
        let echo = try await TestDatagramEcho.start()
        let proxy = try FaultlineBinary.start([
            "proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)",
            "--profile", profilePath, "--seed", "1", "--log", log,
        ])
        let port = try #require(await proxy.listeningPort())
        let far = try await TestDatagram.bind(host: "127.0.0.2")
        try await far.executeThenClose { _, outbound in
            for number in 0..<5 as Range<UInt64> {
                try await outbound.write(TestDatagram.Envelope(remoteAddress: try TestDatagram.loopback(port), data: TestDatagram.numbered(number)))
            }
        }
        // The listener reads datagrams in arrival order on one loop: once the near
        // client's echoes are back, the far client's datagrams were all handled.
        let near = try await TestDatagram.bind()
        let echoed = try await near.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()
            var echoed: [UInt64] = []
            for number in 10..<15 as Range<UInt64> {
                try await outbound.write(TestDatagram.Envelope(remoteAddress: try TestDatagram.loopback(port), data: TestDatagram.numbered(number)))
                let reply = try #require(try await replies.next())
                echoed.append(try #require(TestDatagram.number(of: reply.data)))
            }
            return echoed
        }
        #expect(echoed == Array(10..<15))
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)
        await echo.stop()

        let events = try EventLogReader.read(path: log)
        let farSession = try #require(events.first { $0.type == .connectionOpen && $0.client?.hasPrefix("127.0.0.2:") == true }?.conn)
        let faults = events.filter { $0.type == .fault }
        #expect(faults.count == 5)
        #expect(faults.allSatisfy { $0.rule == "far-away" && $0.conn == farSession && $0.direction == .upstream && $0.action == "drop" })
        #expect(Accounting.check(events).isEmpty)
    }

    static func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-udp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func lossEventsAndDeliveriesAccountForEveryDatagramAndRepeatWithTheSeed() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let seed: UInt64 = 20_261_123
        let expected = try Expected(profile: ProfileLoader().load("lossy-udp"), seed: seed, atLeast: 120)
        #expect(!expected.lostUpstream.isEmpty && !expected.lostDownstream.isEmpty, "pick a seed that loses both ways")

        let first = try await Self.run(seed: seed, expected: expected, directory: directory)
        #expect(first.received == expected.delivered)
        let losses = first.events.filter { $0.type == .fault }
        #expect(losses.allSatisfy { $0.kind == "loss" && $0.action == "drop" && $0.conn == 0 })
        #expect(losses.filter { $0.direction == .upstream }.compactMap(\.unit) == expected.lostUpstream)
        #expect(losses.filter { $0.direction == .downstream }.compactMap(\.unit) == expected.lostDownstream)
        // Every datagram sent was lost on the way up, lost on the way back, or came back.
        #expect(losses.count + first.received.count == expected.sent)

        let start = try #require(first.events.first)
        #expect(start.type == .proxyStart && start.seed == seed && start.profile == "lossy-udp")
        let close = try #require(first.events.first { $0.type == .connectionClose })
        #expect(close.datagramsFromClient == expected.sent)
        #expect(close.datagramsDroppedUpstream == expected.lostUpstream.count)
        #expect(close.datagramsToUpstream == expected.sent - expected.lostUpstream.count)
        #expect(close.datagramsDroppedDownstream == expected.lostDownstream.count)
        #expect(close.datagramsToClient == first.received.count)
        #expect(Accounting.check(first.events).isEmpty)
        #expect(first.events.last?.type == .proxyStop)

        let second = try await Self.run(seed: seed, expected: expected, directory: directory)
        #expect(second.faults == first.faults)
        #expect(second.received == first.received)
    }

    /// `reordering-udp` loses nothing: every datagram comes back at least once, each
    /// hold, delay and copy is an event, and the books balance with the copies counted.
    @Test func reorderingUDPDeliversEverythingAndLogsEveryFault() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("run.jsonl").path
        let echo = try await TestDatagramEcho.start()
        let proxy = try FaultlineBinary.start([
            "proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)",
            "--profile", "reordering-udp", "--seed", "11", "--log", log,
        ])
        let port = try #require(await proxy.listeningPort())
        let count: UInt64 = 100
        let client = try await TestDatagram.bind()
        let arrivals = try await client.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()
            var arrivals: [UInt64] = []
            for start in stride(from: UInt64(0), to: count, by: 10) {
                for number in start..<start + 10 {
                    let payload = TestDatagram.numbered(number, size: Expected.size)
                    try await outbound.write(TestDatagram.Envelope(remoteAddress: try TestDatagram.loopback(port), data: payload))
                }
                while Set(arrivals).count < Int(start + 10) {
                    let reply = try #require(try await replies.next())
                    arrivals.append(try #require(TestDatagram.number(of: reply.data)))
                }
            }
            return arrivals
        }
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)
        await echo.stop()

        #expect(Set(arrivals) == Set(0..<count))
        let events = try EventLogReader.read(path: log)
        #expect(Accounting.check(events).isEmpty, "\(Accounting.check(events))")
        let faults = events.filter { $0.type == .fault }
        let actions = Dictionary(grouping: faults, by: { "\($0.kind ?? "-") \($0.action ?? "-")" }).mapValues(\.count)
        let close = try #require(events.first { $0.type == .connectionClose })
        // route-jitter delays every datagram both ways, except one still held at the
        // stop (an echoed late copy, say): that one is sent at once, undelayed.
        let flushed = faults.filter { $0.action == "released" && $0.params?["reason"] == "close" }.count
        #expect(actions["delay delay"] == Int(count) + (close.datagramsFromUpstream ?? 0) - flushed)
        #expect(actions["reorder reorder", default: 0] > 0)
        #expect(actions["reorder reorder"] == actions["reorder released"])
        #expect(actions["duplicate duplicate", default: 0] == (close.datagramsDuplicatedUpstream ?? 0) + (close.datagramsDuplicatedDownstream ?? 0))
        #expect(close.datagramsDroppedUpstream == 0 && close.datagramsDroppedDownstream == 0)
        #expect(arrivals.count <= close.datagramsToClient ?? 0)
    }

    /// Both legs as UDP packets: what the client sent, what reached the upstream, what
    /// it answered, what reached the client; tshark reads the file cleanly.
    @Test func pcapHoldsBothLegsOfEveryDatagram() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let seed: UInt64 = 7
        let expected = try Expected(profile: ProfileLoader().load("lossy-udp"), seed: seed, atLeast: 60)
        let pcap = directory.appendingPathComponent("run.pcap").path
        let run = try await Self.run(seed: seed, expected: expected, directory: directory, pcap: pcap)
        #expect(run.received == expected.delivered)

        let start = try #require(run.events.first { $0.type == .proxyStart })
        let proxyPort = try #require(start.listen.flatMap { $0.split(separator: ":").last }.flatMap { UInt16($0) })
        let upstreamPort = try #require(start.upstream.flatMap { $0.split(separator: ":").last }.flatMap { UInt16($0) })
        let (linkType, packets) = try PcapOfflineReader.readAll(path: pcap)
        #expect(linkType == .raw)
        // IPv4 (20 bytes), then UDP: source port, destination port, length.
        let legs = packets.map { packet -> (from: UInt16, to: UInt16, number: UInt64) in
            let bytes = packet.data
            let port = { (at: Int) in UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1]) }
            let number = bytes[28..<36].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return (port(20), port(22), number)
        }
        let toProxy = legs.filter { $0.to == proxyPort }.map(\.number)
        let toUpstream = legs.filter { $0.to == upstreamPort }.map(\.number)
        let fromUpstream = legs.filter { $0.from == upstreamPort }.map(\.number)
        let toClient = legs.filter { $0.from == proxyPort }.map(\.number)
        #expect(toProxy == (0..<UInt64(expected.sent)).map { $0 })
        #expect(toUpstream == toProxy.filter { !expected.lostUpstream.contains($0) })
        #expect(fromUpstream == toUpstream)
        #expect(toClient == expected.delivered)
        #expect(legs.count == toProxy.count + toUpstream.count + fromUpstream.count + toClient.count)

        guard let tshark = ["/usr/bin/tshark", "/usr/local/bin/tshark"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            Issue.record("tshark is needed for this test: run `make test-deps` (apt-get install tshark)")
            return
        }
        let home = ["HOME": FileManager.default.temporaryDirectory.path]
        let read = try await ChildProcess.run(URL(fileURLWithPath: tshark), ["-r", pcap], environment: home)
        #expect(read.status == 0)
        #expect(Self.complaints(read.stderr).isEmpty, "tshark said: \(read.stderr)")
        #expect(read.stdout.split(separator: "\n").count == packets.count)
        let checksums = try await ChildProcess.run(
            URL(fileURLWithPath: tshark),
            ["-r", pcap, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-T", "fields", "-e", "ip.checksum.status", "-e", "udp.checksum.status"],
            environment: home
        )
        #expect(Set(checksums.stdout.split(separator: "\n").map(String.init)) == ["1\t1"])
    }

    /// As root, tshark always notes it; that is not about the file.
    static func complaints(_ stderr: String) -> [Substring] {
        stderr.split(separator: "\n").filter { !$0.hasPrefix("Running as user \"root\"") }
    }

    static let refusals: [([String], String)] = [
        (
            ["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--profile", "lossy-udp"],
            "profile 'lossy-udp' says 'transport: udp'; run it with 'faultline proxy --udp', not 'faultline proxy'"
        ),
        (
            ["proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--profile", "slow-reply"],
            "profile 'slow-reply' is for TCP (it does not say 'transport: udp'); run it with 'faultline proxy', not 'faultline proxy --udp'"
        ),
    ]

    @Test(arguments: refusals)
    func aProfileForTheOtherTransportExitsTwo(arguments: [String], message: String) async throws {
        let result = try await FaultlineBinary.run(arguments)
        #expect(result.status == 2)
        #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
    }

    @Test func validateNamesTheLineAndColumnOfATCPKindInAUDPProfile() async throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("mixed.yaml").path
        try """
            faultline: 1
            name: mixed
            description: a UDP profile with a TCP fault
            transport: udp
            rules:
              - name: lose
                fault: {kind: loss, model: gilbert_elliott, p: 2, r: 0.5}
              - name: cut
                fault: {kind: sever, mode: reset}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try await FaultlineBinary.run(["profile", "validate", file, "lossy-udp", "reordering-udp"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(file):7:52: p must be between 0 and 1, got 2"), "stderr was: \(result.stderr)")
        #expect(result.stderr.contains("\(file):9:19: sever is a TCP fault and cannot act on datagrams"), "stderr was: \(result.stderr)")
        #expect(result.stdout.contains("lossy-udp: ok (lossy-udp, 2 rules)"))
        #expect(result.stdout.contains("reordering-udp: ok (reordering-udp, 3 rules)"))
    }
}
