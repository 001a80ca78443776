#if canImport(Glibc)
import Glibc
#endif
import FaultlineCore
import FaultlineRecords
import FaultlineTestSupport
import NIOCore
import Foundation
import Testing

/// SIGHUP (the terminal closed) stops proxy, serve and run as SIGTERM does, records
/// flushed; a second signal during --grace ends the grace at once.
@Suite(.timeLimit(.minutes(2)))
struct HangupAndSecondSignalTests {
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-hup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Every connection the log opened it closed, and the log ends with proxy_stop.
    static func expectComplete(_ path: String, reason: String? = nil) throws {
        let events = try EventLogReader.read(path: path)
        #expect(events.first?.type == .proxyStart, "\(path)")
        #expect(events.last?.type == .proxyStop, "\(path)")
        let opened = Set(events.filter { $0.type == .connectionOpen }.compactMap(\.conn))
        let closes = events.filter { $0.type == .connectionClose }
        #expect(!opened.isEmpty && opened == Set(closes.compactMap(\.conn)), "\(path)")
        if let reason { #expect(closes.allSatisfy { $0.reason == reason }, "\(closes)") }
    }

    /// The exit of a process sent a signal: one still running after `limit` (the signal
    /// lost, or its grace not cut short) is killed and the test fails.
    static func exit(of process: ChildProcess, within limit: Duration = .seconds(30)) async throws -> Int32 {
        do {
            return try await withTimeout(limit) { await process.exitStatus() }
        } catch {
            process.signal(SIGKILL)
            Issue.record("still running \(limit) after the second signal: \(process.standardError)")
            throw error
        }
    }

    @Test(arguments: [SIGHUP, SIGTERM])
    func proxyStopsOnHangupAndFlushesItsRecords(signal: Int32) async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let echo = try SocketEchoServer()
        let log = directory.appendingPathComponent("hup.jsonl").path
        let proxy = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)", "--framing", "line",
            "--log", log, "--pcap", directory.appendingPathComponent("hup.pcap").path, "--grace", "0s",
        ])
        let port = try #require(await proxy.listeningPort())
        let held = try HostileClient.holdOpen(port: port, count: 2, bytes: Array("held\n".utf8))
        defer { held.close() }
        try await waitUntilLogged("message", in: log)
        proxy.signal(signal)
        #expect(await proxy.exitStatus() == 0, "\(proxy.standardError)")
        try Self.expectComplete(log, reason: "shutdown")
        #expect(try TCPStreamReassembler.streams(fromCaptureAt: directory.appendingPathComponent("hup.pcap").path).count == 4)
    }

    @Test(arguments: [SIGINT, SIGTERM])
    func aSecondSignalEndsTheProxysGrace(signal: Int32) async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let echo = try SocketEchoServer()
        let log = directory.appendingPathComponent("grace.jsonl").path
        let proxy = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)", "--log", log, "--grace", "10m",
        ])
        let port = try #require(await proxy.listeningPort())
        let held = try HostileClient.holdOpen(port: port, count: 1, bytes: Array("held".utf8))
        defer { held.close() }
        try await waitUntilLogged("conn_open", in: log)
        proxy.signal(signal)
        #expect(await proxy.standardError(saying: "stopping"))
        proxy.signal(signal)
        #expect(try await Self.exit(of: proxy) == 0, "\(proxy.standardError)")
        #expect(proxy.standardError.contains("second signal: ending the grace now"), "\(proxy.standardError)")
        try Self.expectComplete(log, reason: "shutdown")
    }

    /// A UDP proxy's grace ends on the second signal too: the datagram a 10-minute delay
    /// holds is discarded then and counted as dropped, and the proxy exits at once.
    @Test func aSecondSignalEndsAUDPProxysGrace() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let profile = directory.appendingPathComponent("late.yaml").path
        try """
            faultline: 1
            name: late
            description: every datagram to the upstream held for ten minutes
            transport: udp
            rules:
              - {name: late, match: {direction: upstream}, fault: {kind: delay, latency: 10m}}

            """.write(toFile: profile, atomically: true, encoding: .utf8)
        let upstream = try await TestDatagram.bind()
        let upstreamPort = try #require(upstream.channel.localAddress?.port)
        let log = directory.appendingPathComponent("udp-grace.jsonl").path
        try await upstream.executeThenClose { _, _ in
            let proxy = try FaultlineBinary.start([
                "proxy", "--udp", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(upstreamPort)",
                "--profile", profile, "--log", log, "--grace", "10m",
            ])
            let port = try #require(await proxy.listeningPort(), "\(proxy.standardError)")
            let client = try await TestDatagram.bind()
            try await client.executeThenClose { _, outbound in
                try await outbound.write(TestDatagram.Envelope(remoteAddress: try TestDatagram.loopback(port), data: TestDatagram.numbered(1)))
            }
            try await waitUntilLogged("fault", in: log)
            proxy.signal(SIGTERM)
            #expect(await proxy.standardError(saying: "stopping"))
            proxy.signal(SIGTERM)
            #expect(try await Self.exit(of: proxy) == 0, "\(proxy.standardError)")
            #expect(proxy.standardError.contains("second signal: ending the grace now"), "\(proxy.standardError)")
        }
        try Self.expectComplete(log, reason: "shutdown")
        let close = try #require(try EventLogReader.read(path: log).first { $0.type == .connectionClose })
        #expect(close.datagramsToUpstream == 0 && close.datagramsDroppedUpstream == 1, "\(close)")
    }

    @Test func serveStopsOnHangupAndFlushesEveryLog() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (server, log, echo, held) = try await Self.serveHoldingAConnection(logs: directory, grace: "0s")
        defer { held.close(); _ = echo }
        server.signal(SIGHUP)
        #expect(await server.exitStatus() == 0, "\(server.standardError)")
        try Self.expectComplete(log, reason: "shutdown")
    }

    @Test func aSecondSignalEndsServesGrace() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (server, log, echo, held) = try await Self.serveHoldingAConnection(logs: directory, grace: "10m")
        defer { held.close(); _ = echo }
        server.signal(SIGINT)
        #expect(await server.standardError(saying: "stopping"))
        server.signal(SIGINT)
        #expect(try await Self.exit(of: server) == 0, "\(server.standardError)")
        try Self.expectComplete(log, reason: "shutdown")
    }

    /// serve (its logs in `logs`) with a proxy `svc` made through ctl and one client
    /// connection held open on it, once the log has its `conn_open`.
    static func serveHoldingAConnection(
        logs: URL, grace: String
    ) async throws -> (server: ChildProcess, log: String, echo: SocketEchoServer, held: SocketSet) {
        let echo = try SocketEchoServer()
        let server = try FaultlineBinary.start(["serve", "--api", "127.0.0.1:0", "--log", logs.path, "--grace", grace])
        let api = ["--api", "127.0.0.1:\(try #require(await server.listeningPort()))"]
        let created = try await FaultlineBinary.run(["ctl", "create", "svc", "--upstream", "127.0.0.1:\(echo.port)", "--listen", "127.0.0.1:0"] + api)
        #expect(created.status == 0, "\(created.stderr)")
        let listenLine = try #require(created.stdout.split(separator: "\n").first { $0.hasPrefix("listening on ") })
        let port = try #require(Int(listenLine.split(separator: ":").last ?? ""))
        let held = try HostileClient.holdOpen(port: port, count: 1, bytes: Array("held".utf8))
        let log = logs.appendingPathComponent("svc.jsonl").path
        try await waitUntilLogged("conn_open", in: log)
        return (server, log, echo, held)
    }

    /// SIGHUP to run reaches the command (which traps it), and the run finishes as after
    /// any exit: the summary, the reports, the records complete.
    @Test func runPassesHangupOnAndFinishes() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("run.yaml")
        try "faultline: 1\nproxies:\n  - {name: api, upstream: 127.0.0.1:1, framing: http}\nchecks:\n  retries: true\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let marker = directory.appendingPathComponent("marker").path
        let script = #"trap 'echo got-hup > "$MARKER"; exit 0' HUP; echo ready; while :; do sleep 0.1; done"#
        let run = try FaultlineBinary.start(
            ["run", "--config", config.path, "--output", directory.appendingPathComponent("out").path, "--", "sh", "-c", script],
            environment: ["MARKER": marker]
        )
        #expect(await run.nextLine() == "ready")
        run.signal(SIGHUP)
        #expect(try await Self.exit(of: run) == 0, "\(run.standardError)")
        let stderr = await run.completeStandardError()
        #expect(stderr.contains("faultline run: the command passed"), "\(stderr)")
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "got-hup\n")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("out/retries.junit.xml").path))
        let events = try EventLogReader.read(path: directory.appendingPathComponent("out/api.jsonl").path)
        #expect(events.last?.type == .proxyStop)
    }

    /// Once the command has exited, a signal ends the proxies' grace: the run finishes
    /// at once, connections closed and the records complete.
    @Test func aSignalAfterTheCommandEndsRunsGrace() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let echo = try SocketEchoServer()
        let config = directory.appendingPathComponent("run.yaml")
        try "faultline: 1\ngrace: 10m\nproxies:\n  - {name: api, upstream: 127.0.0.1:\(echo.port)}\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let script = #"trap 'exit 0' TERM; echo "ready $FAULTLINE_API_PORT"; while :; do sleep 0.1; done"#
        let run = try FaultlineBinary.start(
            ["run", "--config", config.path, "--output", directory.appendingPathComponent("out").path, "--", "sh", "-c", script]
        )
        let ready = try #require(await run.nextLine())
        let port = try #require(Int(ready.dropFirst("ready ".count)))
        let held = try HostileClient.holdOpen(port: port, count: 1, bytes: Array("held".utf8))
        defer { held.close() }
        let log = directory.appendingPathComponent("out/api.jsonl").path
        try await waitUntilLogged("conn_open", in: log)
        run.signal(SIGTERM)
        #expect(await run.standardError(saying: "1 connection still open: waiting up to 10m"))
        run.signal(SIGTERM)
        #expect(try await Self.exit(of: run) == 0, "\(run.standardError)")
        #expect(run.standardError.contains("faultline: SIGTERM: ending the grace now"), "\(run.standardError)")
        try Self.expectComplete(log, reason: "shutdown")
    }
}
