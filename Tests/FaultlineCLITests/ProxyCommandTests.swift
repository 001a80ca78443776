import FaultlineCore
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

/// The `faultline` binary as a user runs it.
@Suite(.timeLimit(.minutes(1)))
struct ProxyCommandTests {
    @Test func printsTheBoundAddressForwardsAndExitsZeroOnSIGTERM() async throws {
        let echo = try await TestServer.echo()
        let proxy = try FaultlineBinary.start(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)"])
        let port = try #require(await proxy.listeningPort())
        let client = try await TestClient.connect(port: port)
        let echoed = try await client.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "through the binary"))
            outbound.finish()
            return String(buffer: try await TestClient.readAll(inbound))
        }
        #expect(echoed == "through the binary")
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)
        await echo.stop()
    }

    @Test func sigintAlsoStopsCleanly() async throws {
        let proxy = try FaultlineBinary.start(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9"])
        _ = try #require(await proxy.listeningPort())
        proxy.signal(SIGINT)
        #expect(await proxy.exitStatus() == 0)
    }

    static let badInvocations: [([String], Int32, String)] = [
        (["proxy", "--listen", "127.0.0.1", "--upstream", "127.0.0.1:1"], 2, "--listen takes HOST:PORT"),
        (["proxy", "--listen", "127.0.0.1:99999", "--upstream", "127.0.0.1:1"], 2, "port must be a number"),
        (["proxy", "--listen", "127.0.0.1:0", "--upstream", "nonsense"], 2, "--upstream takes HOST:PORT"),
        (["proxy", "--listen", "::1:80", "--upstream", "127.0.0.1:1"], 2, "IPv6 address in brackets"),
        (["proxy", "--upstream", "127.0.0.1:1"], 2, "Missing expected argument '--listen"),
        (["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--grace", "soon"], 2, "--grace"),
        (["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:0"], 2, "upstream 127.0.0.1:0: port 0 cannot be connected to"),
        (["no-such-command"], 2, "Unexpected argument"),
    ]

    @Test(arguments: badInvocations)
    func badUsageExitsTwoWithOneClearLine(arguments: [String], status: Int32, message: String) async throws {
        let result = try await FaultlineBinary.run(arguments)
        #expect(result.status == status)
        #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
    }

    @Test func portInUseExitsThree() async throws {
        let occupant = try await TestServer.echo()
        let result = try await FaultlineBinary.run([
            "proxy", "--listen", "127.0.0.1:\(occupant.port)", "--upstream", "127.0.0.1:1",
        ])
        await occupant.stop()
        #expect(result.status == 3)
        #expect(result.stderr.contains("address already in use"), "stderr was: \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    /// A proxy that never started leaves no records behind: an empty log would read as
    /// a run that recorded nothing.
    @Test func aProxyThatCannotListenLeavesNoRecords() async throws {
        let occupant = try await TestServer.echo()
        let directory = try RecordsCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = directory.appendingPathComponent("run.jsonl").path
        let pcap = directory.appendingPathComponent("run.pcap").path
        let result = try await FaultlineBinary.run([
            "proxy", "--listen", "127.0.0.1:\(occupant.port)", "--upstream", "127.0.0.1:1", "--log", log, "--pcap", pcap,
        ])
        await occupant.stop()
        #expect(result.status == 3)
        #expect(!FileManager.default.fileExists(atPath: log))
        #expect(!FileManager.default.fileExists(atPath: pcap))
    }

    /// All three acts: passthrough is byte-exact; with reply-lost the naive retry pays
    /// twice, and the act's log and capture are left where `--output` says; the checker
    /// names the naive client's unsafe retry and passes the careful one (whose ledger
    /// applies each deposit once), and replay finds the naive ledger at-least-once and
    /// the deduplicating one deduplicated by key.
    @Test func demoRunsEndToEnd() async throws {
        let directory = try RecordsCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try await FaultlineBinary.run(["demo", "--output", directory.path])
        #expect(result.status == 0, "stderr was: \(result.stderr)")
        #expect(result.stdout.contains("every reply matched"))
        // In words: the event log numbers these attempts from 0, as every report does.
        #expect(result.stdout.contains("   the first attempt: deposit 10  ->  no answer in time"))
        #expect(result.stdout.contains("   the retry:         deposit 10  ->  balance 20"))
        #expect(!result.stdout.contains("attempt 1") && !result.stdout.contains("attempt 2"))
        #expect(result.stdout.contains("the ledger applied 2 deposits of 10 (balance 20)"))
        #expect(result.stdout.hasSuffix("demo finished: all three acts went as described"))
        #expect(result.stdout.contains("faultline check retries: HIGH CR-01 NONIDEMPOTENT_RETRY_NO_KEY on POST /deposits"))
        #expect(result.stdout.contains("the ledger applied 4 deposits for 2 intended (balance 40)"))
        #expect(result.stdout.contains("the ledger applied 2 deposits for 2 intended (balance 20)"))
        #expect(result.stdout.contains("faultline check retries: no violations"))
        #expect(result.stdout.contains("faultline check idempotency: POST /deposits is at-least-once"))
        #expect(result.stdout.contains("faultline check idempotency: POST /deposits is deduplicated by key"))
        for report in ["naive-retries.html", "careful-retries.html", "naive-idempotency.html", "careful-idempotency.html"] {
            let html = try String(contentsOf: directory.appendingPathComponent(report), encoding: .utf8)
            #expect(html.contains("<html"), "\(report) is a page")
        }

        let events = try EventLogReader.read(path: directory.appendingPathComponent("demo.jsonl").path)
        #expect(Accounting.check(events).isEmpty)
        #expect(events.filter { $0.type == .fault }.map(\.rule) == ["lose-first-reply"])
        let streams = try TCPStreamReassembler.streams(fromCaptureAt: directory.appendingPathComponent("demo.pcap").path)
        #expect(streams.count == 4)
        #expect(streams.allSatisfy { $0.clientToServer == Array("deposit 10\n".utf8) })
    }

    @Test func demoRefusesAnOutputItCannotCreate() async throws {
        let result = try await FaultlineBinary.run(["demo", "--output", "/proc/faultline-demo"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--output /proc/faultline-demo: cannot create the directory"), "stderr was: \(result.stderr)")
    }
}
