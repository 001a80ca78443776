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

/// `proxy --log --pcap`, `log summary|export` and `capture`, as a user runs them.
@Suite(.timeLimit(.minutes(1)))
struct RecordsCommandTests {
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static let stopSignals: [Int32] = [SIGTERM, SIGINT]

    /// After SIGTERM or SIGINT both files are complete: the log reads back and balances,
    /// the pcap holds both legs with the bytes that travelled.
    @Test(arguments: stopSignals)
    func proxyWritesALogAndACaptureThatSurviveTheSignal(signal: Int32) async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("run.jsonl").path
        let pcap = directory.appendingPathComponent("run.pcap").path
        let echo = try await TestServer.echo()
        let proxy = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)", "--name", "cli",
            "--log", log, "--pcap", pcap,
        ])
        let port = try #require(await proxy.listeningPort())
        for text in ["first connection", "second, a little longer connection"] {
            let client = try await TestClient.connect(port: port)
            let echoed = try await client.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: text))
                outbound.finish()
                return String(buffer: try await TestClient.readAll(inbound))
            }
            #expect(echoed == text)
        }
        proxy.signal(signal)
        #expect(await proxy.exitStatus() == 0)
        await echo.stop()

        let events = try EventLogReader.read(path: log)
        #expect(events.first?.type == .proxyStart)
        #expect(events.last?.type == .proxyStop)
        // --name names the proxy in every event that names one.
        #expect(events.first?.proxy == "cli")
        #expect(events.allSatisfy { $0.proxy == nil || $0.proxy == "cli" })
        #expect(events.filter { $0.type == .connectionClose }.count == 2)
        #expect(Accounting.check(events).isEmpty)

        let streams = try TCPStreamReassembler.streams(fromCaptureAt: pcap)
        #expect(streams.count == 4)
        #expect(streams.map { String(decoding: $0.serverToClient, as: UTF8.self) }.sorted() == [
            "first connection", "first connection",
            "second, a little longer connection", "second, a little longer connection",
        ])

        let summary = try await FaultlineBinary.run(["log", "summary", log])
        #expect(summary.status == 0)
        #expect(summary.stdout.contains("connections:  2 (2 closed)"), "stdout was: \(summary.stdout)")
        #expect(summary.stdout.contains("accounting:   balanced"))

        let csv = directory.appendingPathComponent("run.csv").path
        let export = try await FaultlineBinary.run(["log", "export", log, "--format", "csv", "-o", csv])
        #expect(export.status == 0)
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\r\n")
        #expect(rows.first?.hasPrefix("v,type,time,mono,proxy,conn") == true)
        #expect(rows.count == events.count + 1)

        let json = try await FaultlineBinary.run(["log", "export", log, "--format", "json"])
        #expect(json.status == 0)
        let array = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        #expect(array?.count == events.count)
        // The same events export to the same bytes: keys in the log's alphabetical order.
        let again = try await FaultlineBinary.run(["log", "export", log, "--format", "json"])
        #expect(again.stdout == json.stdout)
        let firstKeys = json.stdout.split(separator: "\n").prefix { $0 != "  }," && $0 != "  }" }
            .filter { $0.hasPrefix("    \"") }.map { $0.dropFirst(5).prefix { $0 != "\"" } }
        #expect(firstKeys.count > 3)
        #expect(firstKeys == firstKeys.sorted())
    }

    /// A capture whose writer cannot keep up drops packets, and the log says how many:
    /// a run's records never claim a complete capture they do not have. A one-byte
    /// buffer makes every packet with a payload wait too long.
    @Test func aCaptureThatFallsBehindIsRecordedInTheLog() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("run.jsonl").path
        let pcap = directory.appendingPathComponent("run.pcap").path
        let echo = try await TestServer.echo()
        let proxy = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)",
            "--log", log, "--pcap", pcap, "--pcap-buffer", "1",
        ])
        let port = try #require(await proxy.listeningPort())
        let client = try await TestClient.connect(port: port)
        let echoed = try await client.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "not in the capture"))
            outbound.finish()
            return String(buffer: try await TestClient.readAll(inbound))
        }
        #expect(echoed == "not in the capture")
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)
        await echo.stop()
        #expect(await proxy.completeStandardError().contains("capture lost packets"))

        // At least four payloads (client to proxy, proxy to upstream, and back) did not fit.
        let events = try EventLogReader.read(path: log)
        let dropped = try #require(events.first { $0.type == .captureDropped })
        let count = try #require(dropped.count)
        #expect(count >= 4)
        #expect(dropped.reason?.contains(pcap) == true)
        let streams = try TCPStreamReassembler.streams(fromCaptureAt: pcap)
        #expect(streams.allSatisfy { $0.clientToServer.isEmpty && $0.serverToClient.isEmpty })

        let summary = try await FaultlineBinary.run(["log", "summary", log])
        #expect(summary.status == 0)
        #expect(summary.stdout.contains("WARNING: the packet capture is missing \(count) packets (capture_dropped)"), "stdout was: \(summary.stdout)")
    }

    static let badRecordOptions: [([String], String)] = [
        (["--pcap", "/tmp/x.pcap", "--pcap-max-size", "10X"], "--pcap-max-size"),
        (["--pcap-max-size", "10M"], "--pcap-max-size needs --pcap FILE"),
        (["--pcap-buffer", "1M"], "--pcap-buffer needs --pcap FILE"),
        (["--pcap", "/tmp/x.pcap", "--pcap-buffer", "4G"], "--pcap-buffer 4G: at most 2G"),
        (["--pcap", "/nonexistent-directory/run.pcap"], "cannot write capture file /nonexistent-directory/run.pcap"),
        (["--connect-timeout", "0s"], "--connect-timeout must be more than 0"),
        (["--pcap", "/tmp/x.pcap", "--pcap-max-size", "100"], "--pcap-max-size 100: at least 64K"),
    ]

    @Test(arguments: badRecordOptions)
    func badRecordOptionsExitTwo(options: [String], message: String) async throws {
        let result = try await FaultlineBinary.run(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9"] + options)
        #expect(result.status == 2)
        #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
    }

    @Test func summaryOfABadLogNamesFileAndLine() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("bad.jsonl").path
        try Data("{\"v\":1,\"type\":\"proxy_start\"}\n{oops\n".utf8).write(to: URL(fileURLWithPath: log))
        let result = try await FaultlineBinary.run(["log", "summary", log])
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(log):2: not a JSON object"), "stderr was: \(result.stderr)")
    }

    @Test func anUnwritableLogPathExitsTwoBeforeListening() async throws {
        let result = try await FaultlineBinary.run([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--log", "/nonexistent-directory/run.jsonl",
        ])
        #expect(result.status == 2)
        #expect(result.stderr.contains("/nonexistent-directory/run.jsonl: cannot write the event log"))
        #expect(!result.stdout.contains("listening"))
    }

    @Test func captureWithABadFilterExitsTwoWithLibpcapsMessage() async throws {
        let result = try await FaultlineBinary.run(["capture", "--interface", "lo", "--filter", "tcp port banana", "-w", "/tmp/unused.pcap"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("bad capture filter 'tcp port banana'"), "stderr was: \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    /// Without CAP_NET_RAW (dropped with setpriv when running as root), the refusal is
    /// one line naming the privilege, exit 3.
    @Test func captureWithoutPrivilegeExitsThreeNamingIt() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("x.pcap").path
        let arguments = ["capture", "--interface", "lo", "-w", file, "--count", "1"]
        let result: ChildProcess.Result
        if geteuid() == 0 {
            result = try await ChildProcess.run(try UnprivilegedUserTests.setpriv(), ["--bounding-set=-net_raw,-net_admin", "--inh-caps=-all", "--", FaultlineBinary.url.path] + arguments)
        } else {
            result = try await FaultlineBinary.run(arguments)
        }
        #expect(result.status == 3)
        #expect(result.stderr.contains("CAP_NET_RAW"), "stderr was: \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "stderr was: \(result.stderr)")
    }

    /// The whole `capture` command on loopback, as root: a connection made while it runs
    /// is in the file it leaves. `--count 4` ends it after the handshake and the request.
    @Test(.enabled(if: geteuid() == 0, "live capture needs root; without it the privilege test above covers the refusal"))
    func captureCommandRecordsALoopbackConnection() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("live.pcap").path
        let echo = try await TestServer.echo()
        let capture = try FaultlineBinary.start(["capture", "-i", "lo", "--filter", "tcp port \(echo.port)", "-w", file, "--count", "4"])
        let first = await capture.nextLine()
        #expect(first?.hasPrefix("capturing on lo") == true)
        let client = try await TestClient.connect(port: echo.port)
        let echoed = try await client.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "live"))
            outbound.finish()
            return try await TestClient.readAll(inbound)
        }
        #expect(echoed == ByteBuffer(string: "live"))
        let last = await capture.nextLine()
        #expect(await capture.exitStatus() == 0)
        let bytes = try Self.wireBytes(file)
        #expect(last == "captured 4 packets (\(bytes) bytes) to \(file)")
        let stream = try #require(try TCPStreamReassembler.streams(fromCaptureAt: file).first)
        #expect(stream.sawSYN)
        #expect(Int(stream.server.port) == echo.port)
        #expect(stream.clientToServer == Array("live".utf8))
        await echo.stop()
    }

    /// `--duration` ends the capture by itself and leaves a valid (here empty) file.
    @Test(.enabled(if: geteuid() == 0, "live capture needs root; without it the privilege test above covers the refusal"))
    func captureStopsAfterItsDuration() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("quiet.pcap").path
        // Port 1 on loopback: nothing talks there during the test.
        let result = try await FaultlineBinary.run(["capture", "-i", "lo", "--filter", "tcp port 1", "-w", file, "--duration", "200ms"])
        #expect(result.status == 0, "stderr was: \(result.stderr)")
        #expect(result.stdout.hasSuffix("captured 0 packets (0 bytes) to \(file)"))
        let (linkType, packets) = try PcapOfflineReader.readAll(path: file)
        #expect(packets.isEmpty)
        #expect(linkType == .ethernet)
    }

    static func wireBytes(_ file: String) throws -> Int {
        try PcapOfflineReader.readAll(path: file).packets.reduce(0) { $0 + $1.originalLength }
    }
}
