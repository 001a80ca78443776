import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `faultline profile ...` and `faultline proxy --profile`, as a user runs them.
@Suite(.timeLimit(.minutes(1)))
struct ProfileCommandTests {
    static func write(_ text: String, name: String = "p.yaml") throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let shipped = ["request-lost", "slow-reply", "partition", "connection-refused", "flaky-network", "slow-drip"]

    @Test func listShowsTheShippedLibraryFromAnyDirectory() async throws {
        let result = try await FaultlineBinary.run(["profile", "list"])
        #expect(result.status == 0)
        for name in Self.shipped {
            #expect(result.stdout.contains(name), "\(result.stdout)")
        }
        #expect(result.stdout.contains("Simulates"))
    }

    @Test func listIncludesTheSearchPath() async throws {
        let path = try Self.write("faultline: 1\nname: team-special\ndescription: Simulates our thing.\nrules: []\n", name: "team-special.yaml")
        let folder = (path as NSString).deletingLastPathComponent
        let result = try await FaultlineBinary.run(["profile", "list"], environment: ["FAULTLINE_PROFILE_PATH": folder])
        #expect(result.stdout.contains("team-special"))
        let explain = try await FaultlineBinary.run(["profile", "explain", "team-special"], environment: ["FAULTLINE_PROFILE_PATH": folder])
        #expect(explain.status == 0)
    }

    @Test func showPrintsTheText() async throws {
        let result = try await FaultlineBinary.run(["profile", "show", "slow-drip"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("# yaml-language-server"))
        #expect(result.stdout.contains("kind: slice"))
    }

    @Test func validateGoodFilesExitsZero() async throws {
        let path = try Self.write("faultline: 1\nname: ok\ndescription: fine\nrules: [{name: a, fault: {kind: blackhole}}]\n")
        let result = try await FaultlineBinary.run(["profile", "validate", path, "partition"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\(path): ok (ok, 1 rule)"))
    }

    @Test func validateReportsEveryProblemInEveryFileAndExitsTwo() async throws {
        let bad = try Self.write("faultline: 1\nname: bad\ndescription: broken\nrules:\n  - name: a\n    probability: 7\n    fault: {kind: delay, latency: quick}\n")
        let worse = try Self.write("faultline: 1\nname: [x\n", name: "worse.yaml")
        let good = try Self.write("faultline: 1\nname: ok\ndescription: fine\n", name: "good.yaml")
        let result = try await FaultlineBinary.run(["profile", "validate", bad, worse, good])
        #expect(result.status == 2)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("\(bad):6:18: probability must be between 0 and 1") }, "\(result.stderr)")
        #expect(lines.contains { $0.hasPrefix("\(bad):7:35: latency must be a duration") }, "\(result.stderr)")
        #expect(lines.contains { $0.hasPrefix("\(worse):") && $0.contains("not valid YAML") }, "\(result.stderr)")
        #expect(lines.last == "faultline: 2 of 3 profiles invalid")
        #expect(result.stdout.contains("\(good): ok"))
    }

    @Test func explainSaysWhatHappensAndWhatToDo() async throws {
        let result = try await FaultlineBinary.run(["profile", "explain", "partition"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("What it does to traffic:"))
        #expect(result.stdout.contains("'cut-both-ways' (blackhole)"))
        #expect(result.stdout.contains("partitioned, for 20s: rules acting: cut-both-ways"))
        #expect(result.stdout.contains("What a correct client should do:"))
    }

    @Test func explainOfABadFileExitsTwoWithItsLocation() async throws {
        let path = try Self.write("faultline: 1\nname: x\ndescription: y\nrules: [{name: a, fault: {kind: nope}}]\n")
        let result = try await FaultlineBinary.run(["profile", "explain", path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("\(path):4:"), "\(result.stderr)")
    }

    @Test func unknownProfileNameOnProxyExitsTwo() async throws {
        let result = try await FaultlineBinary.run(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--profile", "no-such-profile"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("no profile named 'no-such-profile'"), "\(result.stderr)")
    }

    @Test func proxyWithProfileAndSeedInjectsAndSaysTheSeed() async throws {
        let echo = try await TestServer.echo()
        let path = try Self.write("faultline: 1\nname: first-refused\ndescription: d\nrules: [{name: r, match: {connections: {first: 1}}, fault: {kind: refuse, mode: close}}]\n")
        let proxy = try FaultlineBinary.start(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)", "--profile", path, "--seed", "42"])
        let port = try #require(await proxy.listeningPort())
        func roundTrip() async throws -> String {
            let client = try await TestClient.connect(port: port)
            return try await client.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "hi"))
                outbound.finish()
                return String(buffer: try await TestClient.readAll(inbound))
            }
        }
        let first = (try? await roundTrip()) ?? ""
        let second = try await roundTrip()
        #expect(first == "")
        #expect(second == "hi")
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)
        let stderr = await proxy.completeStandardError()
        #expect(stderr.contains("seed 42"), "\(stderr)")
        await echo.stop()
    }

    @Test func proxyWithoutSeedChoosesAndPrintsOne() async throws {
        let proxy = try FaultlineBinary.start(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--profile", "slow-reply"])
        _ = try #require(await proxy.listeningPort())
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)
        let stderr = await proxy.completeStandardError()
        #expect(stderr.range(of: #"seed [0-9]+"#, options: .regularExpression) != nil, "\(stderr)")
        #expect(stderr.contains("profile=slow-reply"), "\(stderr)")
    }
}
