import FaultlineCore
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The event log's books balance over a run of the `faultline` binary with every
/// message fault active on a line protocol, and they agree with what the clients and
/// the server saw: nothing happens that the log does not record.
@Suite(.timeLimit(.minutes(2)))
struct EveryMessageFaultAccountingTests {
    /// Three connections per rule, in accept order; each rule strikes the second line
    /// (message 1) of its connections. The last three pass untouched.
    static let profile = """
        faultline: 1
        name: every-message-fault
        description: every message fault, three connections each
        framing: line
        rules:
          - {name: drop-request, match: {connections: {first: 3}, direction: upstream, message: {skip: 1, first: 2}}, fault: {kind: drop}}
          - {name: drop-reply, match: {connections: {skip: 3, first: 6}, direction: downstream, message: {skip: 1, first: 2}}, fault: {kind: drop}}
          - {name: duplicate, match: {connections: {skip: 6, first: 9}, message: {skip: 1, first: 2}}, fault: {kind: duplicate}}
          - {name: reorder, match: {connections: {skip: 9, first: 12}, message: {skip: 1, first: 2}}, fault: {kind: reorder, after: 1, delay: 5s}}
          - {name: respond, match: {connections: {skip: 12, first: 15}, message: {skip: 1, first: 2}}, fault: {kind: respond, body: busy}}
          - {name: cut-before, match: {connections: {skip: 15, first: 18}, direction: upstream, message: {skip: 1, first: 2}}, fault: {kind: sever, mode: reset, at: before}}
          - {name: cut-mid, match: {connections: {skip: 18, first: 21}, direction: downstream, message: {skip: 1, first: 2}}, fault: {kind: sever, mode: fin, at: mid_message}}
          - {name: cut-after, match: {connections: {skip: 21, first: 24}, direction: upstream, message: {skip: 1, first: 2}}, fault: {kind: sever, mode: reset, at: after}}
          - {name: crash, match: {connections: {skip: 24, first: 27}, message: {skip: 1, first: 2}}, fault: {kind: sever, mode: reset, at: first_reply_byte}}
          - {name: slow-reply, match: {connections: {skip: 27, first: 30}, direction: downstream, message: {skip: 1, first: 2}}, fault: {kind: delay, latency: 30ms}}
        """
    static let connections = 33

    /// Three lines of 100 bytes for connection `ordinal`.
    static func request(_ ordinal: Int) -> String {
        (0..<3).map { line in
            let head = "c\(ordinal)-l\(line)-"
            return head + String(repeating: "x", count: 99 - head.utf8.count) + "\n"
        }.joined()
    }

    @Test func everyMessageFaultBalancesAndMatchesWhatThePeersSaw() async throws {
        let directory = try RecordsCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let profilePath = directory.appendingPathComponent("every.yaml").path
        try Self.profile.write(toFile: profilePath, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("run.jsonl").path

        let echo = try SocketEchoServer()
        defer { echo.stop() }
        let proxy = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)",
            "--profile", profilePath, "--seed", "7", "--log", log,
        ])
        let port = try #require(await proxy.listeningPort())

        // One client at a time, so client i is connection ordinal i. Each sends its
        // lines and its FIN, and reads until the end.
        var endings: [SocketClient.Ending] = []
        for ordinal in 0..<Self.connections {
            // No client here is meant to time out: the limit only ends a hang.
            endings.append(try await SocketClient.exchange(port: port, request: Self.request(ordinal), finish: true, limit: .seconds(30)))
        }
        // A copy travels on a connection of its own: its client can be done (the
        // original's echo and the server's FIN came back) before the copy's reply
        // reached the proxy. Stopped then, the proxy gives the copy only its grace
        // (5 s, which a handler of the server held back on a loaded machine can
        // outlast), and a copy cut off has no reply and a server count short of the
        // log's. Every copy's reply is in the log before the stop.
        try await waitUntilLogged("duplicate_reply", count: 3, in: log)
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)

        let events = try EventLogReader.read(path: log)
        #expect(Accounting.check(events).isEmpty, "\(Accounting.check(events))")
        let faults = events.filter { $0.type == .fault }
        #expect(Set(faults.compactMap(\.rule)) == Set(["drop-request", "drop-reply", "duplicate", "reorder", "respond", "cut-before", "cut-mid", "cut-after", "crash", "slow-reply"]))
        #expect(faults.allSatisfy { $0.unit == 1 || $0.rule == "crash" })

        // No client was left waiting: every fault ends or answers the exchange.
        #expect(!endings.contains { if case .timedOut = $0 { true } else { false } }, "\(endings)")

        // What the log says reached each client is what it received, answers written
        // in the server's place included.
        let closes = Dictionary(uniqueKeysWithValues: events.filter { $0.type == .connectionClose }.compactMap { event in
            event.conn.map { ($0, event) }
        })
        for (ordinal, ending) in endings.enumerated() {
            let close = try #require(closes[UInt64(ordinal)], "connection \(ordinal) has no conn_close")
            let logged = (close.bytesToClient ?? 0) + (close.injectedDownstream ?? 0)
            #expect(logged == ending.received.utf8.count, "connection \(ordinal): log \(logged), client \(ending.received.utf8.count)")
        }
        let lines = { (ordinal: Int) -> [String] in Self.request(ordinal).split(separator: "\n").map { String($0) + "\n" } }
        for ordinal in 0..<3 { #expect(endings[ordinal] == .eof(lines(ordinal)[0] + lines(ordinal)[2]), "request dropped on \(ordinal)") }
        for ordinal in 3..<6 { #expect(endings[ordinal] == .eof(lines(ordinal)[0] + lines(ordinal)[2]), "reply dropped on \(ordinal)") }
        for ordinal in 6..<9 { #expect(endings[ordinal] == .eof(Self.request(ordinal)), "duplicated on \(ordinal)") }
        for ordinal in 9..<12 { #expect(endings[ordinal] == .eof(lines(ordinal)[0] + lines(ordinal)[2] + lines(ordinal)[1]), "reordered on \(ordinal)") }
        for ordinal in 12..<15 { #expect(endings[ordinal] == .eof(lines(ordinal)[0] + "busy\n" + lines(ordinal)[2]), "answered on \(ordinal)") }
        // A crash resets the client when line 1's reply starts: line 0's reply may or may
        // not have got out first.
        for ordinal in 24..<27 {
            #expect([SocketClient.Ending.reset(""), .reset(lines(ordinal)[0])].contains(endings[ordinal]), "crashed on \(ordinal): \(endings[ordinal])")
        }
        for ordinal in 27..<33 { #expect(endings[ordinal] == .eof(Self.request(ordinal)), "delayed or untouched \(ordinal)") }

        // Each copy's reply is in the log, and what the log says went upstream (copies
        // included) is what the server received.
        let copies = events.filter { $0.type == .duplicateReply }
        #expect(copies.count == 3 && copies.allSatisfy { $0.reason == nil && $0.bytes == 100 })
        var received = 0
        var iterator = echo.received.makeAsyncIterator()
        for _ in 0..<(closes.count + copies.count) {
            guard let count = await iterator.next() else { break }
            received += count
        }
        let upstream = closes.values.reduce(0) { $0 + ($1.bytesToUpstream ?? 0) + ($1.duplicatedUpstream ?? 0) }
        #expect(received == upstream, "server \(received), log \(upstream)")
    }
}
