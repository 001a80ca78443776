import FaultlineCore
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The event log's books balance over a run of the `faultline` binary with every TCP
/// fault kind active, and they agree with what the clients and the server saw, and with
/// the packet capture of the same run.
@Suite(.timeLimit(.minutes(2)))
struct EveryFaultAccountingTests {
    /// Three connections per rule, in accept order; the last three pass untouched. A
    /// per-chunk delay runs over all of them.
    static let profile = """
        faultline: 1
        name: every-tcp-fault
        description: every TCP fault kind, three connections each
        rules:
          - {name: delay, match: {connections: {first: 3}}, fault: {kind: delay, latency: 20ms, jitter: 10ms}}
          - {name: bandwidth, match: {connections: {skip: 3, first: 6}, direction: downstream}, fault: {kind: bandwidth, bytes_per_second: 200000}}
          - {name: slice, match: {connections: {skip: 6, first: 9}, direction: downstream}, fault: {kind: slice, size: 100, size_variation: 40, gap: 1ms}}
          - {name: blackhole, match: {connections: {skip: 9, first: 12}, direction: upstream}, fault: {kind: blackhole}}
          - {name: reset-at, match: {connections: {skip: 12, first: 15}, direction: downstream}, fault: {kind: sever, mode: reset, after_bytes: {min: 1, max: 2000}}}
          - {name: fin-at, match: {connections: {skip: 15, first: 18}, direction: upstream}, fault: {kind: sever, mode: fin, after_bytes: 1000}}
          - {name: half-close-at, match: {connections: {skip: 18, first: 21}, direction: upstream}, fault: {kind: sever, mode: half-close, after_bytes: 500}}
          - {name: reset-after, match: {connections: {skip: 21, first: 24}}, fault: {kind: sever, mode: reset, after: 1ms}}
          - {name: refuse-reset, match: {connections: {skip: 24, first: 27}}, fault: {kind: refuse, mode: reset}}
          - {name: refuse-close, match: {connections: {skip: 27, first: 30}}, fault: {kind: refuse, mode: close}}
          - {name: hang, match: {connections: {skip: 30, first: 33}, direction: upstream}, fault: {kind: hang, close_after: 100ms, close: reset}}
          - {name: slow-close, match: {connections: {skip: 33, first: 36}, direction: upstream}, fault: {kind: slow_close, delay: 50ms}}
          - {name: jitter, probability: 0.3, per: chunk, fault: {kind: delay, latency: 2ms}}
        """
    static let connections = 39

    @Test func everyFaultKindAtOnceBalancesAndMatchesWhatThePeersSaw() async throws {
        let directory = try RecordsCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let profilePath = directory.appendingPathComponent("every.yaml").path
        try Self.profile.write(toFile: profilePath, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("run.jsonl").path
        let pcap = directory.appendingPathComponent("run.pcap").path

        // An echo on plain sockets: it counts what its kernel delivered, resets included.
        let echo = try SocketEchoServer()
        defer { echo.stop() }

        let proxy = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)",
            "--profile", profilePath, "--seed", "7", "--log", log, "--pcap", pcap,
        ])
        let port = try #require(await proxy.listeningPort())

        // One client at a time, so client i is connection ordinal i.
        let request = String((0..<3000).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
        var endings: [SocketClient.Ending] = []
        for ordinal in 0..<Self.connections {
            // Only a blackholed client waits for a reply that never comes: it gives up
            // (after long enough that a busy proxy has taken the connection up, so that
            // client i stays connection ordinal i).
            let limit: Duration = (9..<12).contains(ordinal) ? .seconds(1) : .seconds(20)
            endings.append(try await SocketClient.exchange(port: port, request: request, finish: true, limit: limit))
        }
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)

        let events = try EventLogReader.read(path: log)
        #expect(Accounting.check(events).isEmpty, "\(Accounting.check(events))")

        // Every kind acted.
        let kinds = Set(events.filter { $0.type == .fault }.compactMap(\.kind))
        #expect(kinds == ["delay", "bandwidth", "slice", "blackhole", "sever", "refuse", "hang", "slow_close"])

        // What the log says reached each client is what that client received, and what
        // it received is a prefix of what it sent: nothing changed, nothing unrecorded.
        let closes = Dictionary(uniqueKeysWithValues: events.filter { $0.type == .connectionClose }.compactMap { event in
            event.conn.map { ($0, event) }
        })
        for (ordinal, ending) in endings.enumerated() {
            #expect(request.hasPrefix(ending.received), "connection \(ordinal) received bytes it never sent")
            if (24..<30).contains(ordinal) {
                #expect(closes[UInt64(ordinal)] == nil, "refused connection \(ordinal) reached the upstream")
                #expect(ending == (ordinal < 27 ? .reset("") : .eof("")), "refused connection \(ordinal): \(ending)")
            } else {
                let close = try #require(closes[UInt64(ordinal)], "connection \(ordinal) has no conn_close")
                #expect(close.bytesToClient == ending.received.utf8.count, "connection \(ordinal): log \(close.bytesToClient ?? -1), client \(ending.received.utf8.count)")
            }
        }
        for ordinal in 9..<12 {
            #expect(endings[ordinal] == .timedOut(""), "blackholed connection \(ordinal)")
        }
        // A held close delays the end only: the echo still comes back whole.
        for ordinal in 33..<39 {
            #expect(endings[ordinal] == .eof(request), "connection \(ordinal), slow-closed or untouched")
        }

        // What the log says went upstream is what the server received.
        var perConnection: [Int] = []
        var iterator = echo.received.makeAsyncIterator()
        for _ in 0..<closes.count {
            guard let received = await iterator.next() else { break }
            perConnection.append(received)
        }
        #expect(perConnection.reduce(0, +) == closes.values.reduce(0) { $0 + ($1.bytesToUpstream ?? 0) }, "server \(perConnection) log \(closes.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value.bytesToUpstream ?? -1)" })")

        // The capture shows what the sockets took, as the log counts it (writes a cut
        // discarded are in neither): per connection on the client legs, found by the
        // client's port, and in total on the upstream legs, whose ports the log omits.
        let streams = try TCPStreamReassembler.streams(fromCaptureAt: pcap)
        #expect(streams.allSatisfy { $0.missingBytes == 0 })
        let clientLegs = Dictionary(
            streams.filter { Int($0.server.port) == port }.map { (Int($0.client.port), $0) },
            uniquingKeysWith: { first, _ in first }
        )
        for open in events where open.type == .connectionOpen {
            let ordinal = try #require(open.conn)
            let clientPort = try #require(open.client?.split(separator: ":").last.flatMap { Int($0) })
            let close = try #require(closes[ordinal])
            let leg = try #require(clientLegs[clientPort], "connection \(ordinal) has no client leg in the capture")
            #expect(leg.serverToClient.count == close.bytesToClient, "connection \(ordinal): capture \(leg.serverToClient.count), log \(close.bytesToClient ?? -1)")
            #expect(leg.clientToServer.count == close.bytesFromClient, "connection \(ordinal): capture \(leg.clientToServer.count), log \(close.bytesFromClient ?? -1)")
        }
        let upstreamLegs = streams.filter { Int($0.server.port) == echo.port }
        #expect(upstreamLegs.reduce(0) { $0 + $1.clientToServer.count } == closes.values.reduce(0) { $0 + ($1.bytesToUpstream ?? 0) })
    }
}
