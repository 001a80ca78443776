import FaultlineCore
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import Testing

/// `faultline serve` and `faultline ctl` as a user runs them.
@Suite(.timeLimit(.minutes(2)))
struct ServeCommandTests {
    @Test func serveAndCtlDriveAProxyEndToEnd() async throws {
        let echo = try await TestServer.echo()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("serve-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        // Made by serve, parents too, as run makes its output folder.
        let directory = root.appendingPathComponent("logs/serve")
        // With a trailing slash, as a shell's completion writes it.
        let server = try FaultlineBinary.start(["serve", "--api", "127.0.0.1:0", "--log", directory.path + "/", "--seed", "5"])
        let apiPort = try #require(await server.listeningPort())
        let api = ["--api", "127.0.0.1:\(apiPort)"]

        let created = try await FaultlineBinary.run(["ctl", "create", "svc", "--upstream", "127.0.0.1:\(echo.port)"] + api)
        #expect(created.status == 0, "\(created.stderr)")
        let described = try await FaultlineBinary.run(["ctl", "show", "svc"] + api)
        #expect(described.stdout.contains(directory.path + "/svc.jsonl") && !described.stdout.contains("//svc"), "\(described.stdout)")
        let listenLine = try #require(created.stdout.split(separator: "\n").first { $0.hasPrefix("listening on ") })
        let port = try #require(Int(listenLine.split(separator: ":").last ?? ""))
        #expect(try await SocketClient.exchange(port: port, request: "hi", finish: true) == .eof("hi"))

        let rule = try await FaultlineBinary.run(
            ["ctl", "rule", "add", "svc", "--rule", "{name: cut, match: {direction: upstream}, fault: {kind: sever, mode: fin}}"] + api
        )
        #expect(rule.status == 0, "\(rule.stderr)")
        #expect(try await SocketClient.exchange(port: port, request: "hi", finish: true) == .eof(""))

        let listed = try await FaultlineBinary.run(["ctl", "list"] + api)
        #expect(listed.status == 0)
        #expect(listed.stdout.contains("svc\ttcp\t127.0.0.1:\(port) -> 127.0.0.1:\(echo.port)\tenabled"), "\(listed.stdout)")
        #expect(listed.stdout.contains("rules cut"))

        let removed = try await FaultlineBinary.run(["ctl", "rule", "remove", "svc", "cut"] + api)
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(try await SocketClient.exchange(port: port, request: "hi", finish: true) == .eof("hi"))

        let profile = try await FaultlineBinary.run(["ctl", "profile", "svc", "slow-reply"] + api)
        #expect(profile.status == 0, "\(profile.stderr)")
        #expect(profile.stdout.hasPrefix("plan version "))

        let events = try await FaultlineBinary.run(["ctl", "events", "svc", "--type", "plan_change"] + api)
        #expect(events.status == 0, "\(events.stderr)")
        #expect(events.stdout.contains("plan_change"), "\(events.stdout)")

        // Refusals keep the SPEC's statuses.
        let missing = try await FaultlineBinary.run(["ctl", "show", "nope"] + api)
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("proxy 'nope' not found"))
        let noEvents = try await FaultlineBinary.run(["ctl", "events", "nope"] + api)
        #expect(noEvents.status == 2)
        #expect(noEvents.stdout.isEmpty, "the error body printed as if it were events: \(noEvents.stdout)")
        #expect(noEvents.stderr.contains("proxy 'nope' not found"))
        let badRule = try await FaultlineBinary.run(["ctl", "rule", "add", "svc", "--rule", "{name: x, fault: {kind: teleport}}"] + api)
        #expect(badRule.status == 2)
        // Where in the --rule text, not in the profile the server wrapped it in.
        #expect(badRule.stderr.contains("--rule:1:25: unknown fault kind 'teleport'"), "\(badRule.stderr)")
        // A message rule on this unframed proxy: refused at the rule's own position, with
        // the one way to get framing here (a proxy's framing is set when it is made).
        let messageRule = try await FaultlineBinary.run(
            ["ctl", "rule", "add", "svc", "--rule", "{name: crash, fault: {kind: sever, mode: reset, at: first_reply_byte}}"] + api
        )
        #expect(messageRule.status == 2)
        #expect(messageRule.stderr.contains("--rule:1:1: rule 'crash' acts on whole messages, so the proxy must frame them"), "\(messageRule.stderr)")
        #expect(messageRule.stderr.contains("a proxy's framing is set when it is made") && !messageRule.stderr.contains("in the profile"), "\(messageRule.stderr)")
        // A profile file's mistakes are named in that file, whichever command sent it.
        let badProfile = FileManager.default.temporaryDirectory.appendingPathComponent("ctl-bad-\(UUID().uuidString).yaml").path
        try "faultline: 1\nname: p\ndescription: d\nrules:\n  - {name: s, fault: {kind: delay, latency: 5}}\n".write(toFile: badProfile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: badProfile) }
        for command in [["ctl", "profile", "svc", "--file", badProfile], ["ctl", "create", "other", "--upstream", "127.0.0.1:1", "--profile-file", badProfile]] {
            let refused = try await FaultlineBinary.run(command + api)
            #expect(refused.status == 2 && refused.stderr.contains("\(badProfile):5:45: latency must be a duration"), "\(command): \(refused.stderr)")
        }
        // A file larger than a profile may be is refused before anything is sent (a
        // client sending 10 MB to a server that refused it at once waited for ever).
        let hugeProfile = FileManager.default.temporaryDirectory.appendingPathComponent("ctl-huge-\(UUID().uuidString).yaml").path
        try String(repeating: "# padding\n", count: 200_000).write(toFile: hugeProfile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: hugeProfile) }
        let huge = try await FaultlineBinary.run(["ctl", "profile", "svc", "--file", hugeProfile] + api)
        #expect(huge.status == 2 && huge.stderr.contains("\(hugeProfile): larger than 1 MiB"), "\(huge.stderr)")
        let inUse = try await FaultlineBinary.run(["ctl", "create", "again", "--listen", "127.0.0.1:\(port)", "--upstream", "127.0.0.1:1"] + api)
        #expect(inUse.status == 3)
        #expect(inUse.stderr.contains("address already in use"), "\(inUse.stderr)")

        // Toxiproxy's toxics, from the shell.
        let toxic = try await FaultlineBinary.run(["ctl", "toxic", "add", "svc", "-t", "limit_data", "-n", "stop", "-a", "bytes=0", "--upstream"] + api)
        #expect(toxic.status == 0, "\(toxic.stderr)")
        #expect(toxic.stdout.contains(#""name":"stop""#))
        #expect(try await SocketClient.exchange(port: port, request: "hi", finish: true) == .eof(""))
        #expect(try await FaultlineBinary.run(["ctl", "toxic", "remove", "svc", "stop"] + api).status == 0)
        #expect(try await SocketClient.exchange(port: port, request: "hi", finish: true) == .eof("hi"))

        // A follower sees new events as they are written, and ends when the server stops.
        // It prints the last close first: once that line is out, the server is
        // following, and the next exchange's close must come (with `--limit 0` the
        // exchange could end before the follower asked, and its close be missed).
        let follower = try FaultlineBinary.start(["ctl", "events", "svc", "--follow", "--type", "conn_close", "--limit", "1"] + api)
        let backlog = try await withTimeout(.seconds(30)) { await follower.nextLine() }
        #expect(backlog?.contains(#""type":"conn_close""#) == true, "\(backlog ?? "nothing")")
        #expect(try await SocketClient.exchange(port: port, request: "followed", finish: true) == .eof("followed"))
        // Earlier closes the log writer had not yet written may come first.
        let followed = try await withTimeout(.seconds(30)) { () async -> String? in
            while let line = await follower.nextLine() {
                if line.contains(#""bytes_from_client":8,"#) { return line }
            }
            return nil
        }
        #expect(followed?.contains(#""type":"conn_close""#) == true, "\(followed ?? "nothing")")

        // A capture started and stopped from the shell holds what passed meanwhile.
        let capturing = try await FaultlineBinary.run(["ctl", "pcap", "start", "svc"] + api)
        #expect(capturing.status == 0, "\(capturing.stderr)")
        #expect(capturing.stdout.contains(#""capturing":true"#), "\(capturing.stdout)")
        #expect(try await FaultlineBinary.run(["ctl", "pcap", "start", "svc"] + api).status == 2, "already capturing")
        #expect(try await SocketClient.exchange(port: port, request: "captured", finish: true) == .eof("captured"))
        let captured = try await FaultlineBinary.run(["ctl", "pcap", "stop", "svc"] + api)
        #expect(captured.status == 0, "\(captured.stderr)")
        let shown = try JSONSerialization.jsonObject(with: Data(captured.stdout.utf8)) as? [String: Any]
        let capture = try #require(shown?["file"] as? String, "\(captured.stdout)")
        defer { try? FileManager.default.removeItem(atPath: (capture as NSString).deletingLastPathComponent) }
        let streams = try TCPStreamReassembler.streams(fromCaptureAt: capture)
        #expect(streams.count == 2 && streams.allSatisfy { String(decoding: $0.clientToServer, as: UTF8.self) == "captured" }, "\(streams)")
        #expect(try await FaultlineBinary.run(["ctl", "pcap", "stop", "svc"] + api).status == 2, "not capturing")

        #expect(try await FaultlineBinary.run(["ctl", "delete", "svc"] + api).status == 0)
        server.signal(SIGTERM)
        #expect(await follower.exitStatus() == 0)
        #expect(await server.exitStatus() == 0)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("svc.jsonl").path))
        // The server is gone: ctl says so and exits 3.
        let gone = try await FaultlineBinary.run(["ctl", "list"] + api)
        #expect(gone.status == 3)
        #expect(gone.stderr.contains("cannot connect"), "\(gone.stderr)")
        await echo.stop()
    }

    @Test func configFileCreatesProxiesWithTheirToxics() async throws {
        let echo = try await TestServer.echo()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("serve-config-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let config = #"[{"name":"cfg","listen":"127.0.0.1:0","upstream":"127.0.0.1:\#(echo.port)","toxics":[{"type":"limit_data","stream":"upstream","attributes":{"bytes":0}}]}]"#
        try Data(config.utf8).write(to: file)
        let server = try FaultlineBinary.start(["serve", "--api", "127.0.0.1:0", "--config", file.path])
        let apiPort = try #require(await server.listeningPort())
        let shown = try await FaultlineBinary.run(["ctl", "show", "cfg", "--api", "127.0.0.1:\(apiPort)"])
        #expect(shown.status == 0)
        #expect(shown.stdout.contains(#""name":"limit_data_upstream""#), "\(shown.stdout)")
        server.signal(SIGINT)
        #expect(await server.exitStatus() == 0)
        await echo.stop()
    }

    /// `--api` and `--token` are taken before the subcommand as after it, as
    /// `ctl --help` lists them (the trial's `ctl --api HOST list` was refused).
    @Test func ctlTakesItsConnectionOptionsBeforeOrAfterTheSubcommand() async throws {
        let token = "a-token-long-enough"
        let server = try FaultlineBinary.start(["serve", "--api", "127.0.0.1:0", "--token", token])
        let api = "127.0.0.1:\(try #require(await server.listeningPort()))"
        let orders: [[String]] = [
            ["ctl", "--api", api, "--token", token, "list"],
            ["ctl", "list", "--api", api, "--token", token],
            ["ctl", "--api", api, "list", "--token", token],
            ["ctl", "--token", token, "rule", "remove", "--api", api, "nope", "r"],
        ]
        for arguments in orders {
            let result = try await FaultlineBinary.run(arguments)
            if arguments.contains("remove") {
                // Reached the server with the token: its answer, not a usage error.
                #expect(result.status == 2 && result.stderr.contains("proxy 'nope' not found"), "\(arguments): \(result.stderr)")
            } else {
                #expect(result.status == 0 && result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "no proxies", "\(arguments): \(result.stdout) \(result.stderr)")
            }
        }
        // Without the token the server refuses, whichever the order.
        let refused = try await FaultlineBinary.run(["ctl", "--api", api, "list"])
        #expect(refused.status == 2 && refused.stderr.contains("give --token or FAULTLINE_TOKEN"), "\(refused.stderr)")
        server.signal(SIGTERM)
        #expect(await server.exitStatus() == 0)
    }

    /// A bad toxic in the config file is named as a file's reader looks for it (the
    /// file, the line and column of the toxic, the entry and the toxic), and no proxy
    /// started before the file was found wrong.
    @Test func aBadToxicInTheConfigIsNamedInTheFileAndNothingStarts() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-config-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let entries = #"""
            [{"name": "a", "upstream": "127.0.0.1:1"},
             {"name": "b", "upstream": "127.0.0.1:1",
              "toxics": [{"type": "latency", "attributes": {"latency": 1.5}}]}]
            """#
        let cases: [(toxics: String, message: String)] = [
            (#"{"type": "latency", "attributes": {"latency": 1.5}}"#, "toxic 1: attributes.latency: latency takes whole numbers, got 1.5"),
            // A time above 7 days (a trial's latency near Int64 ms crashed the server at the first bytes).
            (#"{"type": "latency", "attributes": {"latency": 9223372036854775}}"#, "toxic 1: attributes.latency: latency takes at most 604800000 ms (168h (7 days)), got 9223372036854775"),
            (#"{"type": "lag"}"#, #"toxic 1: "type" must be one of latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, noop; got 'lag'"#),
            (#"{"type": "noop"}, {"type": "noop"}"#, "toxic 2: an earlier toxic of this proxy is named 'noop_downstream' too"),
        ]
        for item in cases {
            try Data(entries.replacingOccurrences(of: #"{"type": "latency", "attributes": {"latency": 1.5}}"#, with: item.toxics).utf8).write(to: file)
            let result = try await FaultlineBinary.run(["serve", "--api", "127.0.0.1:0", "--config", file.path])
            #expect(result.status == 2)
            let column = item.message.hasPrefix("toxic 2") ? 32 : 14
            #expect(result.stderr.contains("--config \(file.path):3:\(column): proxy 2 'b': \(item.message)"), "\(result.stderr)")
            #expect(!result.stderr.contains("bad request body"), "\(result.stderr)")
            #expect(!result.stderr.contains("proxy listening"), "a proxy started before the file was checked: \(result.stderr)")
        }
    }

    /// Toxiproxy's own Python client (toxiproxy-python from PyPI, installed by
    /// `make test-deps`) drives the server unchanged: `Clients/toxiproxy_client.py`.
    @Test(.enabled(if: Self.pythonHasToxiproxyClient(), "needs toxiproxy-python (make test-deps)"))
    func toxiproxysPythonClientWorksUnchanged() async throws {
        let echo = try await TestServer.echo()
        let server = try FaultlineBinary.start(["serve", "--api", "127.0.0.1:0"])
        let apiPort = try #require(await server.listeningPort())
        let script = CheckRetriesCommandTests.clients.appendingPathComponent("toxiproxy_client.py").path
        let result = try await ChildProcess.run(Self.python, ["python3", script, String(apiPort), String(echo.port)])
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")
        server.signal(SIGTERM)
        #expect(await server.exitStatus() == 0)
        await echo.stop()
    }

    /// The `python3` on PATH: where `make test-deps` installs toxiproxy-python with pip.
    static let python = URL(fileURLWithPath: "/usr/bin/env")

    static func pythonHasToxiproxyClient() -> Bool {
        let child = try? ChildProcess(Self.python, ["python3", "-c", "import toxiproxy, requests"])
        return child?.waitForExit() == 0
    }

    static let refusals: [([String], Int32, String)] = [
        (["serve", "--api", "0.0.0.0:0"], 2, "a token is required"),
        (["serve", "--api", "0.0.0.0:0", "--token", "short"], 2, "token is too short"),
        (["serve", "--api", "localhost"], 2, "--api takes HOST:PORT"),
        (["serve", "--log", "/proc/faultline/logs"], 2, "--log /proc/faultline/logs: cannot make the directory"),
        (["serve", "--pcap", "/etc/hostname"], 2, "--pcap /etc/hostname: a file, not a directory"),
        (["serve", "--api", "127.0.0.1:0", "--config", "/no/such/file.json"], 2, "cannot read"),
    ]

    @Test(arguments: refusals)
    func serveRefusesToStart(arguments: [String], status: Int32, message: String) async throws {
        let result = try await FaultlineBinary.run(arguments)
        #expect(result.status == status)
        #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
    }

    /// A field a config entry does not take is named with the entry's number, not a
    /// line: the same key (a toxic's "type") stands earlier in another entry.
    @Test func anUnknownFieldInAConfigEntryIsNamedByItsEntry() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-config-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let entries = #"""
            [{"name": "a", "upstream": "127.0.0.1:1", "toxics": [{"type": "latency", "attributes": {"latency": 1}}]},
             {"name": "b", "upstream": "127.0.0.1:1", "type": "latency"}]
            """#
        try Data(entries.utf8).write(to: file)
        let result = try await FaultlineBinary.run(["serve", "--api", "127.0.0.1:0", "--config", file.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--config \(file.path):2:2: proxy 2 'b': unknown field 'type';"), "\(result.stderr)")
    }

    /// A config file that is not JSON is named with the line and column where it stops.
    @Test func aBrokenConfigFileIsNamedWithItsLineAndColumn() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-config-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("[\n  {\"name\": \"a\" \"upstream\": \"127.0.0.1:1\"}\n]\n".utf8).write(to: file)
        let result = try await FaultlineBinary.run(["serve", "--api", "127.0.0.1:0", "--config", file.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--config \(file.path):2:16: invalid JSON"), "stderr was: \(result.stderr)")
    }

    /// A trailing comma is not JSON, though Foundation's parser takes it: refused (exit
    /// 2) at the comma's line and column, in an array or an object; a comma and a bracket
    /// inside a string are text, not a trailing comma. The entries' upstreams are bad
    /// too, so a parser that took the comma fails at once instead of starting a server.
    static let trailingCommas: [(text: String, at: String, what: String)] = [
        ("[\n  {\"name\": \"a\", \"upstream\": \"nowhere\"},\n]\n", "2:39", "an array's last element"),
        ("[\n  {\"name\": \"a,}\", \"upstream\": \"nowhere\",\n  }\n]\n", "2:40", "an object's last member"),
    ]

    @Test(arguments: trailingCommas)
    func aTrailingCommaInTheConfigFileIsRefusedWhereItStands(text: String, at: String, what: String) async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-config-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(text.utf8).write(to: file)
        let result = try await FaultlineBinary.run(["serve", "--api", "127.0.0.1:0", "--config", file.path])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("--config \(file.path):\(at): invalid JSON: a trailing comma: JSON has none after \(what)"), "\(result.stderr)")
    }

    /// A proxy of --config that cannot listen is named as every other mistake of the
    /// file is: where its entry starts, its number and name (exit 3, a runtime failure).
    @Test func aConfigProxyWhoseAddressIsInUseIsNamed() async throws {
        let occupant = try await TestServer.echo()
        defer { Task { await occupant.stop() } }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-config-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let text = "[\n  {\"name\": \"a\", \"upstream\": \"127.0.0.1:1\"},\n  {\"name\": \"b\", \"listen\": \"127.0.0.1:\(occupant.port)\", \"upstream\": \"127.0.0.1:1\"}\n]\n"
        try Data(text.utf8).write(to: file)
        let result = try await FaultlineBinary.run(["serve", "--api", "127.0.0.1:0", "--config", file.path])
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("--config \(file.path):3:3: proxy 2 'b': ") && result.stderr.contains("address already in use"), "\(result.stderr)")
    }

    /// Two entries of one name in --config: the second would silently replace the first
    /// (as /populate replaces a proxy), so the file is refused at the second.
    @Test func aConfigWithTwoProxiesOfOneNameIsRefusedAtTheSecond() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-config-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let text = "[\n  {\"name\": \"a\", \"upstream\": \"127.0.0.1:1\"},\n  {\"name\": \"a\", \"upstream\": \"127.0.0.1:2\"}\n]\n"
        try Data(text.utf8).write(to: file)
        let result = try await FaultlineBinary.run(["serve", "--api", "127.0.0.1:0", "--config", file.path])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(
            result.stderr.contains("--config \(file.path):3:3: proxy 2 'a': a second proxy named 'a' (the first is at \(file.path):2:3)"),
            "\(result.stderr)"
        )
    }

    @Test func apiAddressInUseExitsThree() async throws {
        let occupant = try await TestServer.echo()
        let result = try await FaultlineBinary.run(["serve", "--api", "127.0.0.1:\(occupant.port)"])
        await occupant.stop()
        #expect(result.status == 3)
        #expect(result.stderr.contains("address already in use"), "stderr was: \(result.stderr)")
    }
}
