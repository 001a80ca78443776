import FaultlineCore
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `faultline run` with the built binary: run files, real upstreams (`Clients/upstream.py`,
/// redis-server), real clients (`Clients/retry_client.py`, curl, redis-cli) and the
/// records and reports it leaves.
///
/// Serialized: the retry check judges timing, and these runs start an upstream, a
/// proxy and a client each. Nothing sleeps: each step awaits a line or an exit.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RunCommandTests {
    // MARK: The command's status, the checks, the reports

    /// A command that fails: its status is run's, and the reports are written anyway
    /// (valid JUnit a CI consumer takes: counts that match the test cases).
    @Test func theCommandsFailurePassesThroughAndTheJUnitReportIsValid() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:\(upstream.port)
                framing: http
            checks:
              retries: true
            """,
            in: directory
        )
        let result = try await Self.run(
            config, in: directory,
            command: ["sh", "-c", "curl -sS -o /dev/null http://$FAULTLINE_API_ADDR/items/1 && exit 7"]
        )
        #expect(result.status == 7, "\(result)")
        #expect(result.stderr.contains("the command failed with status 7"), "\(result)")
        let junit = try await Self.validateJUnit(directory.appendingPathComponent("out/retries.junit.xml").path)
        #expect(junit.testcases > 0 && junit.failures == 0, "\(junit)")
        for name in ["api.jsonl", "retries.html", "retries.json"] {
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("out/\(name)").path), "\(name)")
        }
    }

    /// `length_includes_prefix` frames as `--length-includes-prefix` does: a 2-byte
    /// length of 7 that counts itself is one whole 7-byte message (counted without the
    /// prefix, it would wait for two more bytes and frame nothing).
    @Test func aLengthThatCountsItsPrefixFramesAsTheFlagDoes() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            """
            faultline: 1
            proxies:
              - {name: bin, upstream: 127.0.0.1:\(upstream.port), framing: length, length_prefix: 2, length_includes_prefix: true}
            """,
            in: directory
        )
        let client = """
            import os, socket
            host, port = os.environ['FAULTLINE_BIN_ADDR'].rsplit(':', 1)
            s = socket.create_connection((host, int(port)))
            s.sendall(b'\\x00\\x07hello')
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096): pass
            """
        let result = try await Self.run(config, in: directory, command: ["python3", "-c", client])
        #expect(result.status == 0, "\(result)")
        let messages = try EventLogReader.read(path: directory.appendingPathComponent("out/bin.jsonl").path).filter { $0.type == .message }
        #expect(messages.map(\.bytes) == [7], "\(messages)")
    }

    /// A command that passes, under `reply-lost`, whose client retries POSTs without an
    /// Idempotency-Key: exit 1, and CR-01 in the summary, the JUnit, the JSON and the HTML.
    @Test func aPassingCommandWhoseClientBreaksARetryRuleExitsOne() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            """
            faultline: 1
            seed: 3
            proxies:
              - name: api
                upstream: 127.0.0.1:\(upstream.port)
                framing: http
                profile: reply-lost
            checks:
              retries: {max_attempts: 4}
            """,
            in: directory
        )
        let result = try await Self.run(
            config, in: directory,
            command: Self.retryClient(["--method", "POST", "--key", "none", "--count", "2", "--parallel", "2"])
        )
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("the command passed"), "\(result)")
        #expect(result.stderr.contains("CR-01 NONIDEMPOTENT_RETRY_NO_KEY: 2"), "\(result)")
        let out = directory.appendingPathComponent("out")
        let junit = try await Self.validateJUnit(out.appendingPathComponent("retries.junit.xml").path)
        #expect(junit.failures == 1 && junit.failed == ["faultline.retries.CR-01"], "\(junit)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("retries.json"))) as? [String: Any]
        let findings = report?["findings"] as? [[String: Any]] ?? []
        #expect(!findings.isEmpty && Set(findings.compactMap { $0["rule"] as? String }) == ["CR-01"], "\(findings)")
        let html = try String(contentsOf: out.appendingPathComponent("retries.html"), encoding: .utf8)
        #expect(html.contains("CR-01"))
    }

    /// `checks.idempotency` replays the proxy's recorded requests against its upstream:
    /// the test upstream executes every request, so the operation is at-least-once and
    /// run exits 1 with the replay's reports beside the retry check's.
    @Test func theIdempotencyCheckReplaysAgainstTheUpstream() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            """
            faultline: 1
            seed: 3
            proxies:
              - name: api
                upstream: 127.0.0.1:\(upstream.port)
                framing: http
            checks:
              retries: true
              idempotency: {proxy: api}
            reports: [junit, json]
            """,
            in: directory
        )
        let result = try await Self.run(config, in: directory, command: Self.retryClient(["--method", "POST", "--count", "1"]))
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("check retries: no violations (1 logical request, 0 retried)"), "\(result)")
        #expect(result.stderr.contains("SR-01 DUP_CHANGES_STATE"), "\(result)")
        #expect(result.stderr.contains("POST /items/{id}: at-least-once"), "\(result)")
        let out = directory.appendingPathComponent("out")
        let junit = try await Self.validateJUnit(out.appendingPathComponent("idempotency.junit.xml").path)
        #expect(junit.failed.contains("faultline.idempotency.SR-01"), "\(junit)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("idempotency.json"))) as? [String: Any]
        let operations = report?["operations"] as? [[String: Any]] ?? []
        #expect(operations.first?["classification"] as? String == "at_least_once", "\(operations)")
    }

    /// `checks.idempotency` over a proxy no request went through: nothing to replay. The
    /// check is not run, which the summary and every report say; it fails nothing unless
    /// `only` names operations the run should have sent (then 3). The command's own
    /// failure still comes first, and the summary is printed whatever happened.
    static let nothingToReplay: [(command: [String], only: String, status: Int32, ended: String)] = [
        (["true"], "", 0, "the command passed"),
        (["sh", "-c", "exit 7"], "", 7, "the command failed with status 7"),
        (["true"], ", only: ['GET /items/{id}']", 3, "the command passed"),
    ]

    @Test(arguments: nothingToReplay)
    func anIdempotencyCheckWithNothingToReplayIsReportedNotRun(command: [String], only: String, status: Int32, ended: String) async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            """
            faultline: 1
            proxies:
              - name: cache
                upstream: 127.0.0.1:1
                framing: http
            checks:
              retries: true
              idempotency: {proxy: cache\(only)}
            reports: [junit, json, text]
            """,
            in: directory
        )
        let result = try await Self.run(config, in: directory, command: command)
        #expect(result.status == status, "\(result)")
        #expect(result.stderr.contains("faultline run: \(ended)"), "\(result)")
        let line = only.isEmpty ? "check idempotency: not run: the log has no requests to replay" : "check idempotency: could not run: the log has no requests to replay"
        #expect(result.stderr.contains(line), "\(result)")
        #expect(result.stderr.contains("  replay: faultline run --config"), "\(result)")
        let out = directory.appendingPathComponent("out")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("idempotency.json"))) as? [String: Any]
        let notes = report?["notes"] as? [String] ?? []
        #expect(notes.contains { $0.contains("the log has no requests to replay: proxy 'cache' recorded none") }, "\(notes)")
        let junit = try await Self.validateJUnit(out.appendingPathComponent("idempotency.junit.xml").path)
        #expect(junit.testcases == 1 && junit.failed == (only.isEmpty ? [] : ["faultline.idempotency.not-run"]), "\(junit)")
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("retries.junit.xml").path))
        // The text report's verdict says why, not "no violations".
        let text = try String(contentsOf: out.appendingPathComponent("idempotency.txt"), encoding: .utf8)
        #expect(text.contains(line.replacingOccurrences(of: "check idempotency: ", with: "")) && !text.contains("no violations"), "\(text)")
    }

    /// An idempotency target that never answers: the check could not run, a runtime
    /// failure (3) after the summary, with a failing JUnit case saying why; the retry
    /// check's reports are written as usual.
    @Test func anUnreachableIdempotencyTargetExitsThreeAfterTheSummaryAndReports() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:\(upstream.port)
                framing: http
            checks:
              retries: true
              idempotency: {proxy: api, target: 127.0.0.1:1}
            """,
            in: directory
        )
        let result = try await Self.run(
            config, in: directory, command: ["sh", "-c", "curl -sS -o /dev/null -X POST http://$FAULTLINE_API_ADDR/items/1"]
        )
        #expect(result.status == 3, "\(result)")
        #expect(result.stderr.contains("faultline run: the command passed"), "\(result)")
        #expect(result.stderr.contains("check retries: no violations"), "\(result)")
        #expect(result.stderr.contains("check idempotency: could not run: 127.0.0.1:1 never answered"), "\(result)")
        #expect(result.stderr.contains("  replay: faultline run --config"), "\(result)")
        let out = directory.appendingPathComponent("out")
        let junit = try await Self.validateJUnit(out.appendingPathComponent("idempotency.junit.xml").path)
        #expect(junit.failed == ["faultline.idempotency.not-run"], "\(junit)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("idempotency.json"))) as? [String: Any]
        #expect((report?["notes"] as? [String])?.first?.hasPrefix("could not run: 127.0.0.1:1 never answered") == true, "\(String(describing: report))")
        for name in ["retries.junit.xml", "retries.html", "retries.json", "idempotency.html"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(name)")
        }
    }

    /// A client a refuse rule turned away is said in the summary apart from connections,
    /// in `log summary`'s words and counted as it counts (a trial read "0 connections, 1
    /// fault" as if nothing had come).
    @Test func aRefusedClientIsSaidApartFromConnectionsInTheSummary() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:\(upstream.port)
                framing: http
                rules:
                  - name: turn-away
                    match: {connections: {first: 1}}
                    fault: {kind: refuse, mode: reset}
            """,
            in: directory
        )
        // The first curl waits for its answer, so it ends only once the proxy has taken
        // the connection and reset it: the refusal is counted before the command ends.
        let get = "curl -sS -o /dev/null http://$FAULTLINE_API_ADDR/items/1"
        let result = try await Self.run(config, in: directory, command: ["sh", "-c", "\(get); \(get)"])
        #expect(result.status == 0, "\(result)")
        let said = "  api: 1 connection, 1 refused (turned away by a refuse rule, never let in), 2 messages, 1 fault (1 turn-away)\n"
        #expect(result.stderr.contains(said), "\(result)")
        let summary = try await FaultlineBinary.run(["log", "summary", directory.appendingPathComponent("out/api.jsonl").path])
        #expect(summary.status == 0, "\(summary)")
        #expect(summary.stdout.contains(#/connections:  1 \([^)]*\); 1 refused \(turned away by a refuse rule, never let in\)\n/#), "\(summary)")
    }

    // MARK: Signals

    /// SIGTERM to run reaches the command (which traps it and leaves a marker), and the
    /// records are complete: the log reads back, every connection opened was closed.
    @Test func sigtermReachesTheCommandAndLeavesCompleteRecords() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:\(upstream.port)
                framing: http
                pcap: true
            """,
            in: directory
        )
        let marker = directory.appendingPathComponent("marker").path
        // The command's own loop: a request through the proxy, a slow one left in
        // flight, then "ready" once TERM is trapped.
        let script = """
            trap 'echo got-term > "$MARKER"; exit 0' TERM
            curl -sS -o /dev/null "http://$FAULTLINE_API_ADDR/items/1"
            curl -sS -o /dev/null "http://$FAULTLINE_API_ADDR/slow/2?ms=300" &
            echo ready
            while :; do sleep 0.1; done
            """
        let run = try FaultlineBinary.start(
            ["run", "--config", config, "--output", directory.appendingPathComponent("out").path, "--", "sh", "-c", script],
            environment: ["MARKER": marker]
        )
        var ready = false
        while let line = await run.nextLine() {
            if line == "ready" {
                ready = true
                break
            }
        }
        #expect(ready, "\(run.standardError)")
        run.signal(SIGTERM)
        let status = await run.exitStatus()
        let stderr = await run.completeStandardError()
        #expect(status == 0, "\(stderr)")
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "got-term\n")

        let events = try EventLogReader.read(path: directory.appendingPathComponent("out/api.jsonl").path)
        #expect(events.first?.type == .proxyStart)
        #expect(events.last?.type == .proxyStop)
        let opened = Set(events.filter { $0.type == .connectionOpen }.compactMap(\.conn))
        let closed = Set(events.filter { $0.type == .connectionClose }.compactMap(\.conn))
        #expect(!opened.isEmpty && opened == closed, "opened \(opened), closed \(closed)")
        #expect(Accounting.check(events).isEmpty)
        let streams = try TCPStreamReassembler.streams(fromCaptureAt: directory.appendingPathComponent("out/api.pcap").path)
        #expect(streams.count == 2 * opened.count)
    }

    /// Without a terminal (as in CI) SIGTERM to run reaches the command's whole process
    /// group: a process the command started in the background traps it too (it was left
    /// running, orphaned, when only the command's own process got it).
    @Test func sigtermReachesTheProcessesTheCommandStarted() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write("faultline: 1\nproxies:\n  - {name: api, upstream: 127.0.0.1:1}\n", in: directory)
        let marker = directory.appendingPathComponent("marker").path
        let inner = #"trap 'echo got-term > "$MARKER"; exit 0' TERM; echo "ready $$"; while :; do sleep 0.1; done"#
        let run = try FaultlineBinary.start(
            ["run", "--config", config, "--output", directory.appendingPathComponent("out").path, "--", "sh", "-c", "sh -c \(Self.shellQuoted(inner)) & wait"],
            environment: ["MARKER": marker]
        )
        var background: pid_t = 0
        while let line = await run.nextLine() {
            if line.hasPrefix("ready "), let pid = pid_t(line.dropFirst(6)) {
                background = pid
                break
            }
        }
        defer { if background > 0 { kill(background, SIGKILL) } }
        #expect(background > 0, "\(run.standardError)")
        run.signal(SIGTERM)
        let status = await run.exitStatus()
        // Not the complete standard error: a background process left running holds it.
        #expect(status == 128 + SIGTERM, "\(run.standardError)")
        // The background process is not run's child: its marker is awaited on disk.
        try await waitUntil { FileManager.default.fileExists(atPath: marker) }
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "got-term\n")
    }

    // MARK: The time limit

    /// Commands that outlive `--timeout 1s`: one SIGTERM ends (`sleep`), one that
    /// ignores SIGTERM and is ended by SIGKILL `--kill-after 1s` later. Each command
    /// first prints its pid (its process group's id in CI) and then `exec`s or loops.
    static let outlivers: [(name: String, script: String, ended: String)] = [
        ("sleep", "exec sleep 600", "(ended with SIGTERM)"),
        ("a loop that ignores SIGTERM", "trap '' TERM; while :; do sleep 0.1; done", "(ended with SIGKILL: still running 1s after SIGTERM)"),
    ]

    /// A command that outlives the time limit is ended, and the run goes on as after any
    /// exit: records flushed, checks run, reports written, the summary saying it timed
    /// out, exit 124. The flags win over the run file's `timeout` and `kill_after`
    /// (10m each: the guard would end the test first).
    @Test(arguments: outlivers)
    func aCommandThatOutlivesTheTimeoutIsEndedAndTheRunFinishes(name: String, script: String, ended: String) async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(Self.timedRunFile(timeout: "10m", killAfter: "10m"), in: directory)
        let run = try Self.start(config, in: directory, arguments: ["--timeout", "1s", "--kill-after", "1s"], command: ["sh", "-c", "echo $$; " + script])
        let (status, stderr) = try await Self.awaitExit(of: run, command: pid_t(await run.nextLine() ?? ""))
        #expect(status == 124, "\(name): \(stderr)")
        #expect(stderr.contains("faultline: the command ran longer than its timeout (1s): sent SIGTERM to "), "\(name): \(stderr)")
        #expect(stderr.contains("\nfaultline run: the command timed out after 1s \(ended)\n"), "\(name): \(stderr)")
        #expect(stderr.contains("check retries: no violations"), "\(name): \(stderr)")
        #expect(stderr.contains("--output \(directory.path)/out --timeout 1s --kill-after 1s -- sh -c"), "\(name): \(stderr)")
        let out = directory.appendingPathComponent("out")
        let junit = try await Self.validateJUnit(out.appendingPathComponent("retries.junit.xml").path)
        #expect(junit.failures == 0, "\(name): \(junit)")
        let events = try EventLogReader.read(path: out.appendingPathComponent("api.jsonl").path)
        #expect(events.first?.type == .proxyStart && events.last?.type == .proxyStop, "\(name)")
    }

    /// SIGINT to run after the timeout's SIGTERM, while it waits to send SIGKILL, is
    /// passed on as ever and ends the command: no SIGKILL follows, and the run finishes
    /// as a timed-out one. The run file's own `timeout` and `kill_after` apply.
    @Test func aSignalDuringTheKillAfterPeriodIsPassedOn() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(Self.timedRunFile(timeout: "1s", killAfter: "10m"), in: directory)
        // Says when SIGTERM came, and goes on; SIGINT is left to end it.
        let run = try Self.start(config, in: directory, command: ["sh", "-c", "echo $$; trap 'echo got-term' TERM; while :; do sleep 0.1; done"])
        let command = pid_t(await run.nextLine() ?? "")
        let termed = try? await withTimeout(.seconds(60)) {
            while let line = await run.nextLine() {
                if line == "got-term" { return true }
            }
            return false
        }
        #expect(termed == true, "\(run.standardError)")
        run.signal(SIGINT)
        let (status, stderr) = try await Self.awaitExit(of: run, command: command)
        #expect(status == 124, "\(stderr)")
        #expect(stderr.contains("faultline run: the command timed out after 1s (ended with SIGINT)"), "\(stderr)")
        #expect(!stderr.contains("sent SIGKILL"), "\(stderr)")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("out/retries.junit.xml").path))
    }

    /// `--timeout` and `--kill-after` take a duration more than 0; anything else is bad
    /// usage (2), and the command never runs.
    static let badLimits: [[String]] = [["--timeout", "0s"], ["--timeout=-5s"], ["--kill-after", "0ms"]]

    @Test(arguments: badLimits)
    func aTimeLimitOfZeroOrLessIsRefused(flags: [String]) async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(Self.timedRunFile(timeout: "1m", killAfter: "1s"), in: directory)
        let marker = directory.appendingPathComponent("ran").path
        let result = try await Self.run(config, in: directory, arguments: flags, command: ["touch", marker])
        #expect(result.status == 2, "\(flags): \(result)")
        #expect(result.stderr.contains("the duration must be more than 0"), "\(flags): \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker), "\(flags): the command ran")
    }

    /// `--kill-after` with no timeout from the flag or the run file would do nothing: bad
    /// usage (2), and the command never runs. With the run file's timeout it is taken.
    @Test func aKillAfterWithoutATimeoutIsRefused() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write("faultline: 1\nproxies:\n  - {name: api, upstream: 127.0.0.1:1}\n", in: directory)
        let marker = directory.appendingPathComponent("ran").path
        let refused = try await Self.run(config, in: directory, arguments: ["--kill-after", "1s"], command: ["touch", marker])
        #expect(refused.status == 2, "\(refused)")
        #expect(refused.stderr.contains("--kill-after does nothing without a timeout"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the command ran")

        let timed = try Self.write(Self.timedRunFile(timeout: "1m", killAfter: "1s"), in: directory, name: "timed.yaml")
        let taken = try await Self.run(timed, in: directory, arguments: ["--kill-after", "2s"], command: ["touch", marker])
        #expect(taken.status == 0, "\(taken)")
        #expect(FileManager.default.fileExists(atPath: marker), "the command did not run")
    }

    // MARK: Bad input, runtime failures

    /// Problems in the run file: exit 2, `FILE:LINE:COLUMN` and the reason, and the
    /// command never runs. Inline rules are read at their own lines in the run file.
    static let badFiles: [(String, String)] = [
        (
            "an unknown key names it",
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:1
                colour: blue
            """
        ),
        (
            "an inline rule points at the run file",
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:1
                framing: http
                rules:
                  - name: lose
                    match: {direction: sideways}
                    fault: {kind: drop}
            """
        ),
        (
            "an inline rule listed at its key's indentation",
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:1
                framing: http
                rules:
                - name: slow
                  fault: {kind: delay, latency: fast}
            """
        ),
        (
            "a format version this build does not read",
            """
            faultline: 2
            proxies:
              - name: api
                upstream: 127.0.0.1:1
            """
        ),
        (
            "message rules without framing",
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:1
                profile: reply-lost
            """
        ),
        (
            "a UDP profile on a TCP proxy",
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:1
                profile: lossy-udp
            """
        ),
        (
            "two names one environment variable",
            """
            faultline: 1
            proxies:
              - name: api-gw
                upstream: 127.0.0.1:1
              - name: API_GW
                upstream: 127.0.0.1:2
            """
        ),
        (
            "a length prefix no framer reads",
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:1
                framing: length
                length_prefix: 3
            """
        ),
        (
            "an idempotency proxy framed length",
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:1
                framing: length
            checks:
              idempotency:
                proxy: api
            """
        ),
        (
            "a timeout of 0s",
            """
            faultline: 1
            timeout: 0s
            proxies:
              - name: api
                upstream: 127.0.0.1:1
            """
        ),
        (
            "a connect_timeout of 0s",
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:1
                connect_timeout: 0s
            """
        ),
        (
            "a negative kill_after",
            """
            faultline: 1
            timeout: 1m
            kill_after: -1s
            proxies:
              - name: api
                upstream: 127.0.0.1:1
            """
        ),
        (
            "a kill_after without a timeout",
            """
            faultline: 1
            kill_after: 5s
            proxies:
              - name: api
                upstream: 127.0.0.1:1
            """
        ),
        (
            "a probe replay cannot send",
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:1
                framing: http
            checks:
              idempotency:
                proxy: api
                probe: GET http://example.com/accounts/1
            """
        ),
        (
            "a name clash beside another mistake",
            """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:1
                colour: red
              - name: API
                upstream: 127.0.0.1:2
            """
        ),
    ]

    /// What each bad file must say: its location and words of the message.
    static let badFileMessages: [String: (location: String, words: String)] = [
        "an unknown key names it": ("5:5", "unknown key 'colour' in a proxy"),
        "an inline rule points at the run file": ("8:28", "direction must be one of upstream, downstream, both; got 'sideways'"),
        "an inline rule listed at its key's indentation": ("8:37", "latency must be a duration"),
        "a format version this build does not read": ("1:12", "unsupported run file version 2"),
        "two names one environment variable": ("5:5", "FAULTLINE_API_GW_ADDR"),
        "a length prefix no framer reads": ("6:20", "length_prefix must be 1, 2, 4 or 8 bytes, got 3"),
        "an idempotency proxy framed length": ("8:12", "proxy 'api' is framed length; replay needs a TCP proxy framed http, resp or line"),
        "a name clash beside another mistake": ("6:5", "proxies 'api' and 'API' would both be FAULTLINE_API_ADDR"),
        "a timeout of 0s": ("2:10", "timeout must be more than 0, got '0s'"),
        "a connect_timeout of 0s": ("5:22", "connect_timeout must be more than 0, got '0s' (a dial given no time always fails"),
        "a negative kill_after": ("3:13", "kill_after must be more than 0, got '-1s'"),
        "a kill_after without a timeout": ("2:13", "kill_after does nothing without a timeout"),
        "a probe replay cannot send": (
            "9:12", "probe 'GET http://example.com/accounts/1': give a path starting with '/', not a URL: every request goes to target 127.0.0.1:1 only"
        ),
        "message rules without framing": ("5:14", "rule 'lose-first-reply' acts on whole messages, so the proxy must frame them: set 'framing:' on this proxy"),
        "a UDP profile on a TCP proxy": ("5:14", "profile 'lossy-udp' is for UDP; set 'transport: udp' on this proxy"),
    ]

    @Test(arguments: badFiles)
    func aBadRunFileExitsTwoWithItsLineAndColumn(name: String, text: String) async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(text, in: directory)
        let marker = directory.appendingPathComponent("ran").path
        let result = try await Self.run(config, in: directory, command: ["touch", marker])
        let expected = try #require(Self.badFileMessages[name])
        #expect(result.status == 2, "\(name): \(result)")
        #expect(result.stderr.contains("\(config):\(expected.location): "), "\(name): \(result.stderr)")
        #expect(result.stderr.contains(expected.words), "\(name): \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker), "\(name): the command ran")
    }

    /// A `checks.retries.rules` file's problems are reported in the same pass as the run
    /// file's, each at its own `FILE:LINE:COLUMN`; a rules file that cannot be read is
    /// the run file's problem, at its `rules:`.
    @Test func aBadRulesFileIsReportedWithTheRunFilesOtherProblems() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let rules = try Self.write("rules:\n  CR-99: {enabled: false}\n", in: directory, name: "rules.yaml")
        let text = """
            faultline: 1
            proxies:
              - name: api
                upstream: 127.0.0.1:1
                framing: http
                colour: red
            checks:
              retries: {rules: RULES}
            """
        let config = try Self.write(text.replacingOccurrences(of: "RULES", with: "rules.yaml"), in: directory)
        let marker = directory.appendingPathComponent("ran").path
        let result = try await Self.run(config, in: directory, command: ["touch", marker])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("\(config):6:5: unknown key 'colour' in a proxy"), "\(result.stderr)")
        #expect(result.stderr.contains("\(rules):1:1: ") && result.stderr.contains("faultline_rules"), "\(result.stderr)")
        #expect(result.stderr.contains("\(rules):2:3: unknown rule 'CR-99'"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the command ran")

        let missing = try Self.write(text.replacingOccurrences(of: "RULES", with: "nowhere.yaml"), in: directory, name: "missing.yaml")
        let unread = try await Self.run(missing, in: directory, command: ["touch", marker])
        #expect(unread.status == 2, "\(unread)")
        #expect(unread.stderr.contains("\(missing):6:5: unknown key 'colour' in a proxy"), "\(unread.stderr)")
        #expect(unread.stderr.contains("\(missing):8:20: cannot read the rules file"), "\(unread.stderr)")
    }

    /// Where the records go without `--output`: a run file's `output` is relative to the
    /// run file; without one, `faultline-run` in the working directory (docs/run.md, as
    /// `--help` says), never beside the run file.
    @Test func theOutputFolderIsTheRunFilesOutputElseFaultlineRunInTheWorkingDirectory() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = directory.appendingPathComponent("files")
        let work = directory.appendingPathComponent("work")
        for folder in [files, work] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        let plain = try Self.write("faultline: 1\nproxies:\n  - {name: api, upstream: 127.0.0.1:1}\n", in: files, name: "plain.yaml")
        let named = try Self.write("faultline: 1\noutput: records\nproxies:\n  - {name: api, upstream: 127.0.0.1:1}\n", in: files, name: "named.yaml")
        for config in [plain, named] {
            let script = "cd \"$1\" && exec \"$2\" run --config \"$3\" -- true"
            let result = try await ChildProcess.run(
                URL(fileURLWithPath: "/bin/sh"), ["-c", script, "sh", work.path, FaultlineBinary.url.path, config]
            )
            #expect(result.status == 0, "\(config): \(result)")
        }
        let manager = FileManager.default
        #expect(manager.fileExists(atPath: work.appendingPathComponent("faultline-run/api.jsonl").path))
        #expect(manager.fileExists(atPath: files.appendingPathComponent("records/api.jsonl").path))
        #expect(!manager.fileExists(atPath: files.appendingPathComponent("faultline-run").path))
        #expect(!manager.fileExists(atPath: work.appendingPathComponent("records").path))
    }

    /// Inline rules on a UDP proxy are a UDP profile's: datagram kinds are taken.
    @Test func inlineRulesOnAUDPProxyTakeDatagramKinds() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            """
            faultline: 1
            proxies:
              - name: dns
                transport: udp
                upstream: 127.0.0.1:1
                rules:
                  - name: lose
                    probability: 0.1
                    fault: {kind: loss}
            """,
            in: directory
        )
        let result = try await Self.run(config, in: directory, command: ["true"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("dns on 127.0.0.1:"), "\(result)")
    }

    /// A listen port already taken: exit 3, the reason, and the command never runs.
    @Test func aPortInUseExitsThree() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            """
            faultline: 1
            proxies:
              - name: api
                listen: 127.0.0.1:\(upstream.port)
                upstream: 127.0.0.1:\(upstream.port)
            """,
            in: directory
        )
        let marker = directory.appendingPathComponent("ran").path
        let result = try await Self.run(config, in: directory, command: ["touch", marker])
        #expect(result.status == 3, "\(result)")
        #expect(result.stderr.contains("proxy 'api' (\(config)): listen 127.0.0.1:\(upstream.port): address already in use"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the command ran")
    }

    /// The command starts with default signal handling, though faultline ignores SIGPIPE
    /// (and waits for SIGINT and SIGTERM itself): `producer | head` must end quietly, and
    /// a shell can only trap a signal that was not ignored when it started.
    @Test func theCommandStartsWithNoSignalIgnoredOrBlocked() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write("faultline: 1\nproxies:\n  - {name: api, upstream: 127.0.0.1:1}\n", in: directory)
        let result = try await Self.run(config, in: directory, command: ["sh", "-c", "grep -E '^Sig(Ign|Blk):' /proc/self/status"])
        #expect(result.status == 0, "\(result)")
        for line in result.stdout.split(separator: "\n") {
            let mask = try #require(UInt64(line.split(separator: "\t").last ?? "", radix: 16), "\(line)")
            for signal in [SIGPIPE, SIGINT, SIGTERM] {
                #expect(mask & (1 << UInt64(signal - 1)) == 0, "signal \(signal) in \(line)")
            }
        }
        #expect(result.stdout.split(separator: "\n").count == 2, "\(result)")
    }

    /// The command holds standard input, output and error and nothing else of
    /// faultline's: a command that kept a proxy's listening socket could connect into it
    /// after the proxy stopped and wait for ever (it hung this suite once).
    @Test func theCommandHoldsNoDescriptorOfFaultlines() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write("faultline: 1\nproxies:\n  - {name: api, upstream: 127.0.0.1:1}\n", in: directory)
        let result = try await Self.run(config, in: directory, command: ["sh", "-c", "ls /proc/$$/fd"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.split(separator: "\n").sorted() == ["0", "1", "2"], "\(result)")
    }

    /// A command that cannot be started is faultline's runtime failure (3), not 127.
    @Test func aCommandThatCannotStartExitsThree() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write("faultline: 1\nproxies:\n  - {name: api, upstream: 127.0.0.1:1}\n", in: directory)
        let result = try await Self.run(config, in: directory, command: ["/nonexistent/faultline-test-command"])
        #expect(result.status == 3, "\(result)")
        #expect(result.stderr.contains("cannot start '/nonexistent/faultline-test-command'"), "\(result)")
    }

    /// On a terminal (script(1) gives run one), progress comes as whole lines between
    /// the command's own lines on the same terminal: no line redrawn with `\r` or
    /// erased with an escape, so nothing the command writes runs into it. The command
    /// waits on a FIFO until the test has seen a progress line, then writes again.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs script(1) (util-linux)"))
    func progressOnATerminalIsWholeLinesBetweenTheCommandsOwn() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            "faultline: 1\nproxies:\n  - {name: api, upstream: '127.0.0.1:\(upstream.port)', framing: http}\n", in: directory
        )
        let gate = directory.appendingPathComponent("gate").path
        #expect(mkfifo(gate, 0o600) == 0)
        let command = """
            curl -sS -o /dev/null "http://$FAULTLINE_API_ADDR/items/1"; echo 'cmd: one' >&2; cat "$GATE" > /dev/null; echo 'cmd: two' >&2
            """
        let words = [FaultlineBinary.url.path, "run", "--config", config, "--output", directory.appendingPathComponent("out").path, "--", "sh", "-c", command]
        let terminal = try ChildProcess(
            URL(fileURLWithPath: "/usr/bin/script"), ["-qec", words.map(Self.shellQuoted).joined(separator: " "), "/dev/null"],
            environment: ["GATE": gate]
        )
        defer {
            // Never leave the command waiting on the gate, whatever failed.
            let fd = open(gate, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
            terminal.signal(SIGKILL)
            terminal.waitForExit()
        }
        var lines: [String] = []
        let progress = try await withTimeout(.seconds(60)) { () -> [String] in
            var seen: [String] = []
            while let line = await terminal.nextLine() {
                seen.append(line)
                if line.hasPrefix("faultline: so far: ") { break }
            }
            return seen
        }
        lines += progress
        // The command is in `cat`, or about to be: opening the gate waits for it.
        let fd = open(gate, O_WRONLY)
        #expect(fd >= 0)
        close(fd)
        while let line = await terminal.nextLine() { lines.append(line) }
        let status = await terminal.exitStatus()
        #expect(status == 0, "\(lines)")
        // The terminal ends each line with \r\n; nothing else may hold a \r or an escape.
        let text = lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        #expect(!text.contains { $0.contains("\r") || $0.contains("\u{1B}") }, "\(lines)")
        #expect(text.contains("faultline: so far: api: 1 connection, 2 messages, 0 faults"), "\(text)")
        let one = try #require(text.firstIndex(of: "cmd: one"), "\(text)")
        let two = try #require(text.firstIndex(of: "cmd: two"), "\(text)")
        let drawn = try #require(text.firstIndex { $0.hasPrefix("faultline: so far: ") })
        #expect(one < drawn && drawn < two, "\(text)")
        #expect(text.contains("faultline run: the command passed"), "\(text)")
    }

    // MARK: Environment and seed

    /// The command sees every proxy's address, host, port and upstream, and the seed;
    /// the address is the proxy's (a request through it reaches the upstream).
    @Test func theProxiesAddressesReachTheCommand() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            """
            faultline: 1
            seed: 99
            proxies:
              - name: api
                upstream: 127.0.0.1:\(upstream.port)
              - name: cache-db
                upstream: 127.0.0.1:6379
            """,
            in: directory
        )
        let script = """
            echo "$FAULTLINE_API_ADDR $FAULTLINE_API_HOST $FAULTLINE_API_PORT $FAULTLINE_API_UPSTREAM $FAULTLINE_SEED"
            echo "$FAULTLINE_CACHE_DB_ADDR $FAULTLINE_CACHE_DB_UPSTREAM"
            curl -sS "http://$FAULTLINE_API_ADDR/hello"
            """
        let result = try await Self.run(config, in: directory, command: ["sh", "-c", script])
        #expect(result.status == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(result)")
        let api = lines.first?.split(separator: " ").map(String.init) ?? []
        try #require(api.count == 5, "\(lines)")
        let port = try #require(Int(api[2]))
        #expect(api[1] == "127.0.0.1" && port > 0 && port != upstream.port)
        #expect(api[0] == "127.0.0.1:\(port)")
        #expect(api[3] == "127.0.0.1:\(upstream.port)" && api[4] == "99")
        #expect(result.stderr.contains("api on 127.0.0.1:\(port) -> 127.0.0.1:\(upstream.port)"), "\(result)")
        let cache = lines[1].split(separator: " ").map(String.init)
        #expect(cache.count == 2 && cache[0].hasPrefix("127.0.0.1:") && cache[0] != api[0] && cache[1] == "127.0.0.1:6379", "\(lines)")
        #expect(lines[2].contains("\"path\":\"/hello\""), "\(lines)")
    }

    /// Half the requests answered 503 by the proxy, chosen per message by the seed.
    static let coinFlip = """
        faultline: 1
        proxies:
          - name: api
            upstream: 127.0.0.1:PORT
            framing: http
            rules:
              - name: coin
                match: {direction: upstream}
                probability: 0.5
                per: message
                fault: {kind: respond, status: 503}
        """

    /// `checks.retries.key_header` other than Idempotency-Key is read from the requests'
    /// bytes: the checked proxy records them without being told, so the check runs (a
    /// trial's run exited 3 after the whole command, its log having no payloads).
    @Test func aKeyHeaderMakesTheCheckedProxyRecordPayloads() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            Self.coinFlip.replacingOccurrences(of: "PORT", with: "\(upstream.port)") + "\nchecks:\n  retries:\n    key_header: X-Request-Key\n",
            in: directory
        )
        let client = Self.retryClient(["--method", "POST", "--count", "6", "--key", "same", "--key-header", "X-Request-Key"])
        let result = try await Self.run(config, in: directory, arguments: ["--seed", "3"], command: client)
        #expect(result.status == 0, "\(result)")
        let log = try EventLogReader.read(path: directory.appendingPathComponent("out/api.jsonl").path)
        #expect(log.contains { $0.type == .message && $0.direction == .upstream && $0.payload != nil }, "no payload recorded")
    }

    /// `--seed` is printed in the replay command, reaches the command, and two runs with
    /// the same seed and the same traffic (one request at a time) fault the same units.
    @Test func theSameSeedAndTrafficGiveTheSameFaultsAndTheReplayLineSaysIt() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(Self.coinFlip.replacingOccurrences(of: "PORT", with: "\(upstream.port)"), in: directory)
        let client = Self.retryClient(["--method", "POST", "--count", "8", "--parallel", "1"])
        var faults: [[String]] = []
        for output in ["first", "second"] {
            let result = try await Self.run(config, in: directory, output: output, arguments: ["--seed", "1234"], command: client)
            #expect(result.status == 0, "\(result)")
            #expect(result.stderr.contains("replay this run with: faultline run --config \(config) --seed 1234 --output \(directory.path)/\(output) -- "), "\(result.stderr)")
            faults.append(try Self.faultEvents(directory.appendingPathComponent("\(output)/api.jsonl").path))
        }
        #expect(!faults[0].isEmpty, "no faults at all")
        #expect(faults[0] == faults[1])

        // Without --seed one is chosen, given to the command, and named in the replay line.
        // A --grace given is kept: a shorter one can end connections, and so change the log.
        let result = try await Self.run(config, in: directory, output: "third", arguments: ["--grace", "2s"], command: ["sh", "-c", "echo $FAULTLINE_SEED"])
        let seed = try #require(UInt64(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(result)")
        #expect(
            result.stderr.contains("seed \(seed); replay this run with: faultline run --config \(config) --seed \(seed) --output \(directory.path)/third --grace 2s -- sh -c "),
            "\(result.stderr)")
    }

    /// The replay line gives back every duration flag as written, so it is the very
    /// command: a trial's `--timeout 70s` came back as `--timeout 1.167m` (70.02 s), and
    /// 100s as `1.667m`. With the run file's own limits (1m, 1s), the flags still win.
    @Test func theReplayLineGivesBackEveryDurationAsWritten() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(Self.timedRunFile(timeout: "1m", killAfter: "1s"), in: directory)
        let result = try await Self.run(
            config, in: directory, arguments: ["--seed", "5", "--grace", "1500ms", "--timeout", "70s", "--kill-after", "100s"], command: ["true"])
        #expect(result.status == 0, "\(result)")
        #expect(
            result.stderr.contains("replay this run with: faultline run --config \(config) --seed 5 --output \(directory.path)/out --grace 1500ms --timeout 70s --kill-after 100s -- true\n"),
            "\(result.stderr)")
        #expect(!result.stderr.contains("1.167m") && !result.stderr.contains("1.667m"), "\(result.stderr)")
    }

    // MARK: The examples in docs/

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let examples = repository.appendingPathComponent("docs/examples")

    /// Every run file in docs/examples has a test here that runs it: a new one fails
    /// this until it gets one.
    @Test func everyExampleRunFileIsRunByATest() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.examples.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files == ["http-chaos.yaml", "redis-chaos.yaml"])
    }

    /// `docs/examples/http-chaos.yaml` with its upstream (127.0.0.1:8080) rewritten to a
    /// live one, as docs/run.md says: the careful client and curl pass, the check finds nothing.
    @Test func theHTTPExampleRuns() async throws {
        let upstream = try await PythonUpstream.start()
        defer { upstream.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.example("http-chaos.yaml", upstream: "127.0.0.1:8080", to: "127.0.0.1:\(upstream.port)", in: directory)
        let script = Self.retryClient(["--method", "POST", "--count", "3", "--parallel", "3"]).map(Self.shellQuoted).joined(separator: " ")
            + " && curl -sS --max-time 2 --retry 2 -o /dev/null \"http://$FAULTLINE_API_ADDR/health\""
        let result = try await Self.run(config, in: directory, command: ["sh", "-c", script])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("check retries: no violations"), "\(result)")
        #expect(result.stderr.contains("lose-first-reply"), "\(result)")
        let out = directory.appendingPathComponent("out")
        let junit = try await Self.validateJUnit(out.appendingPathComponent("retries.junit.xml").path)
        #expect(junit.failures == 0, "\(junit)")
        for name in ["api.jsonl", "api.pcap", "retries.html", "retries.json"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(name)")
        }
    }

    /// `docs/examples/redis-chaos.yaml` against a real redis-server, with redis-cli:
    /// INCR through the proxy counts two (every command delivered twice).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-cli"), "redis-cli missing: make test-deps installs redis-tools"))
    func theRedisExampleRuns() async throws {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.example("redis-chaos.yaml", upstream: "127.0.0.1:6379", to: "127.0.0.1:\(redis.port)", in: directory)
        let result = try await Self.run(
            config, in: directory,
            command: ["sh", "-c", "redis-cli -h \"$FAULTLINE_CACHE_HOST\" -p \"$FAULTLINE_CACHE_PORT\" INCR visits"]
        )
        #expect(result.status == 0, "\(result)")
        // The INCR and its copy race to redis (the copy on a connection of its own):
        // the client's reply is 1, or 2 when the copy got there first.
        #expect(["1", "2"].contains(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(result)")
        #expect(result.stderr.contains("1 deliver-twice"), "\(result)")
        let direct = try await ChildProcess.run(URL(fileURLWithPath: "/usr/bin/redis-cli"), ["-p", "\(redis.port)", "GET", "visits"])
        #expect(direct.stdout == "2", "\(direct)")
        let events = try EventLogReader.read(path: directory.appendingPathComponent("out/cache.jsonl").path)
        #expect(events.contains { $0.type == .message && $0.command == "INCR" })
    }

    /// The run files written out whole in docs/run.md start and run a command.
    @Test func theRunFilesInRunMarkdownRun() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = try Self.runFilesInRunMarkdown(in: directory)
        #expect(!files.isEmpty)
        for file in files {
            let result = try await Self.run(file, in: directory, command: ["true"])
            #expect(result.status == 0, "\(file): \(result)")
        }
    }

    /// Every example run file validates against profiles/faultline-run.schema.json (itself
    /// a valid draft 2020-12 schema), and a key the schema does not know is refused.
    @Test(.enabled(if: Self.pythonHas("jsonschema") && Self.pythonHas("yaml"), "needs Debian's python3-jsonschema and python3-yaml (make test-deps)"))
    func theExamplesValidateAgainstTheRunFileSchema() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bad = try Self.write("faultline: 1\nproxies:\n  - {name: api, upstream: 127.0.0.1:1, colour: blue}\n", in: directory)
        let lone = try Self.write("faultline: 1\nkill_after: 5s\nproxies:\n  - {name: api, upstream: 127.0.0.1:1}\n", in: directory, name: "lone.yaml")
        let files = ["http-chaos.yaml", "redis-chaos.yaml"].map { Self.examples.appendingPathComponent($0).path } + (try Self.runFilesInRunMarkdown(in: directory))
        let result = try await Self.python(Self.validateScript, [Self.schema.path] + files + [bad, lone])
        let verdicts = result.stdout.split(separator: "\n").map(String.init)
        #expect(result.status == 0 && verdicts.count == files.count + 2, "\(result)")
        for (file, verdict) in zip(files, verdicts) {
            #expect(verdict == "\(file): ok", "\(verdict)")
        }
        #expect(verdicts.dropLast().last?.contains("'colour' was unexpected") == true, "\(verdicts)")
        #expect(verdicts.last?.contains("'timeout' is a dependency of 'kill_after'") == true, "\(verdicts)")
    }

    /// The schema lists exactly the keys faultline reads: the ones its own unknown-key
    /// messages give as valid, at the top, in a proxy, and in both checks.
    @Test func theSchemaListsEveryKeyTheRunFileReads() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.write(
            """
            faultline: 1
            unknown_top: 1
            proxies:
              - {name: api, upstream: 127.0.0.1:1, framing: http, unknown_proxy: 1}
            checks:
              unknown_checks: 1
              retries: {unknown_retries: 1}
              idempotency: {proxy: api, unknown_idempotency: 1}
            """,
            in: directory
        )
        let result = try await Self.run(config, in: directory, command: ["true"])
        #expect(result.status == 2, "\(result)")
        func validKeys(_ key: String) -> Set<String> {
            guard let line = result.stderr.split(separator: "\n").first(where: { $0.contains("'\(key)'") }),
                let range = line.range(of: "valid keys: ")
            else { return [] }
            return Set(line[range.upperBound...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }
        let schema = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: Self.schema)) as? [String: Any])
        func properties(_ path: [String]) -> Set<String> {
            var node: Any? = schema
            for key in path { node = (node as? [String: Any])?[key] }
            return Set(((node as? [String: Any])?["properties"] as? [String: Any])?.keys.map { $0 } ?? [])
        }
        let table: [(String, [String])] = [
            ("unknown_top", []), ("unknown_proxy", ["$defs", "proxy"]), ("unknown_checks", ["properties", "checks"]),
            ("unknown_retries", ["$defs", "retries"]), ("unknown_idempotency", ["$defs", "idempotency"]),
        ]
        for (key, path) in table {
            let read = validKeys(key)
            #expect(!read.isEmpty, "no valid keys named for \(key): \(result.stderr)")
            #expect(read == properties(path), "\(key): faultline reads \(read.sorted()), the schema has \(properties(path).sorted())")
        }
    }

    /// The CI examples are YAML with the parts that publish the JUnit report.
    @Test(.enabled(if: Self.pythonHas("yaml"), "needs Debian's python3-yaml"))
    func theCIExamplesParseAndPublishTheJUnitReport() async throws {
        let script = """
            import sys, yaml
            github = yaml.safe_load(open(sys.argv[1]))
            steps = [step for job in github["jobs"].values() for step in job["steps"]]
            runs = " ".join(step.get("run", "") for step in steps)
            assert "faultline run" in runs and "--config faultline/docs/examples/http-chaos.yaml" in runs, runs
            junit = [s for s in steps if "junit-report" in s.get("uses", "") or "test-reporter" in s.get("uses", "")]
            assert junit and "retries.junit.xml" in str(junit[0]["with"]) and junit[0]["if"] == "always()", junit
            assert any("upload-artifact" in s.get("uses", "") and "retries.html" in str(s["with"]) for s in steps)
            gitlab = yaml.safe_load(open(sys.argv[2]))
            job = gitlab["chaos"]
            assert job["artifacts"]["reports"]["junit"] == "faultline-run/retries.junit.xml", job["artifacts"]
            assert job["artifacts"]["when"] == "always"
            assert any("faultline run" in line for line in job["script"]), job["script"]
            print("ok")
            """
        let result = try await Self.python(
            script,
            [Self.examples.appendingPathComponent("github-actions.yml").path, Self.examples.appendingPathComponent("gitlab-ci.yml").path]
        )
        #expect(result.status == 0 && result.stdout == "ok", "\(result)")
    }
}

// MARK: - Helpers

extension RunCommandTests {
    static let clients = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients")
    static let schema = repository.appendingPathComponent("profiles/faultline-run.schema.json")

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes a run file `run.yaml` (or `NAME`) into `directory`.
    static func write(_ text: String, in directory: URL, name: String = "run.yaml") throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Copies a docs/examples run file into `directory` with its upstream rewritten,
    /// failing unless the example names that upstream exactly once.
    static func example(_ name: String, upstream: String, to live: String, in directory: URL) throws -> String {
        let text = try String(contentsOf: Self.examples.appendingPathComponent(name), encoding: .utf8)
        let occurrences = text.components(separatedBy: "upstream: \(upstream)").count - 1
        #expect(occurrences == 1, "\(name) should say 'upstream: \(upstream)' once")
        return try Self.write(text.replacingOccurrences(of: "upstream: \(upstream)", with: "upstream: \(live)"), in: directory, name: name)
    }

    /// `faultline run --config CONFIG --output DIRECTORY/OUTPUT ARGUMENTS -- COMMAND`.
    static func run(
        _ config: String, in directory: URL, output: String = "out", arguments: [String] = [], command: [String]
    ) async throws -> ChildProcess.Result {
        let folder = directory.appendingPathComponent(output).path
        return try await FaultlineBinary.run(["run", "--config", config, "--output", folder] + arguments + ["--"] + command)
    }

    /// Starts `faultline run` as `run(_:in:output:arguments:command:)` runs it, for a
    /// test that talks to it while it runs.
    static func start(_ config: String, in directory: URL, output: String = "out", arguments: [String] = [], command: [String]) throws -> ChildProcess {
        let folder = directory.appendingPathComponent(output).path
        return try FaultlineBinary.start(["run", "--config", config, "--output", folder] + arguments + ["--"] + command)
    }

    /// A run file with one proxy (nothing listens upstream), the retry check, and the
    /// time limit given.
    static func timedRunFile(timeout: String, killAfter: String) -> String {
        """
        faultline: 1
        timeout: \(timeout)
        kill_after: \(killAfter)
        proxies:
          - {name: api, upstream: 127.0.0.1:1, framing: http}
        checks:
          retries: true
        """
    }

    /// Awaits the end of `run`: its status and whole standard error. The guard is not a
    /// wait: a run that has not ended within it fails the test, and it and its command
    /// (`command`, the pid the command printed; its process group in CI) are killed.
    static func awaitExit(of run: ChildProcess, command: pid_t?, within limit: Duration = .seconds(60)) async throws -> (status: Int32, stderr: String) {
        do {
            let status = try await withTimeout(limit) { await run.exitStatus() }
            return (status, await run.completeStandardError())
        } catch {
            if let command, command > 0 {
                kill(-command, SIGKILL)
                kill(command, SIGKILL)
            }
            run.signal(SIGKILL)
            Issue.record("faultline run did not end within \(limit): \(run.standardError)")
            throw error
        }
    }

    /// `python3 retry_client.py ARGS --port $FAULTLINE_API_PORT`, through `sh -c`.
    static func retryClient(_ arguments: [String]) -> [String] {
        let script = Self.clients.appendingPathComponent("retry_client.py").path
        let words = [RetryScenario.python.path, script] + arguments
        return ["sh", "-c", words.map(Self.shellQuoted).joined(separator: " ") + " --port \"$FAULTLINE_API_PORT\""]
    }

    static func shellQuoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The fault events of a log as comparable rows, without times.
    static func faultEvents(_ log: String) throws -> [String] {
        try EventLogReader.read(path: log).filter { $0.type == .fault }.map { event in
            "conn \(event.conn ?? 0) \(event.direction?.rawValue ?? "-") unit \(event.unit ?? 0) \(event.rule ?? "-") \(event.kind ?? "-")"
        }
    }

    /// Run files written out whole in docs/run.md (```yaml blocks starting with
    /// `faultline: 1`), saved into `directory` so the schema test reads them too.
    static func runFilesInRunMarkdown(in directory: URL) throws -> [String] {
        let text = try String(contentsOf: Self.repository.appendingPathComponent("docs/run.md"), encoding: .utf8)
        return try text.components(separatedBy: "```yaml\n").dropFirst().enumerated().compactMap { index, block in
            let body = block.components(separatedBy: "```").first ?? ""
            guard body.hasPrefix("faultline: 1") else { return nil }
            return try Self.write(body, in: directory, name: "run-md-\(index).yaml")
        }
    }

    // MARK: Python checks

    static func pythonHas(_ module: String) -> Bool {
        let child = try? ChildProcess(RetryScenario.python, ["-c", "import \(module)"])
        return child?.waitForExit() == 0
    }

    static func python(_ script: String, _ arguments: [String]) async throws -> ChildProcess.Result {
        try await ChildProcess.run(RetryScenario.python, ["-c", script] + arguments)
    }

    /// Prints `FILE: ok` or `FILE: message; message` per file.
    static let validateScript = """
        import json, sys, yaml, jsonschema
        schema = json.load(open(sys.argv[1]))
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        for path in sys.argv[2:]:
            errors = sorted(e.message for e in validator.iter_errors(yaml.safe_load(open(path))))
            print(path + ": " + ("; ".join(errors) if errors else "ok"))
        """

    /// What a JUnit consumer checks: a `testsuites` or `testsuite` root, every suite's
    /// `tests` and `failures` equal to its test cases and failures, every test case named.
    static let junitScript = """
        import sys, xml.etree.ElementTree as E
        root = E.parse(sys.argv[1]).getroot()
        assert root.tag in ("testsuites", "testsuite"), root.tag
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        cases, failed = 0, []
        for suite in suites:
            found = suite.findall("testcase")
            assert int(suite.get("tests")) == len(found), (suite.get("name"), suite.get("tests"), len(found))
            failures = [case for case in found if case.find("failure") is not None]
            assert int(suite.get("failures")) == len(failures), suite.get("name")
            for case in found:
                assert case.get("name") and case.get("classname"), E.tostring(case)
            cases += len(found)
            failed += [case.get("classname") for case in failures]
        if root.tag == "testsuites":
            assert int(root.get("tests")) == cases and int(root.get("failures")) == len(failed)
        print(cases, len(failed), *failed)
        """

    struct JUnit: CustomStringConvertible {
        var testcases: Int
        var failures: Int
        /// The classnames of the failed test cases.
        var failed: [String]
        var description: String { "\(self.testcases) test cases, \(self.failures) failures: \(self.failed)" }
    }

    static func validateJUnit(_ path: String) async throws -> JUnit {
        let result = try await Self.python(Self.junitScript, [path])
        #expect(result.status == 0, "\(path) is not JUnit a consumer takes: \(result.stderr)")
        let words = result.stdout.split(separator: " ").map(String.init)
        return JUnit(testcases: Int(words.first ?? "") ?? -1, failures: Int(words.dropFirst().first ?? "") ?? -1, failed: Array(words.dropFirst(2)))
    }
}

/// `Clients/upstream.py` on a free port: HTTP answers to every method.
struct PythonUpstream {
    var process: ChildProcess
    var port: Int

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func start() async throws -> PythonUpstream {
        let process = try ChildProcess(RetryScenario.python, [RunCommandTests.clients.appendingPathComponent("upstream.py").path])
        guard let line = await process.nextLine(), line.hasPrefix("port "), let port = Int(line.dropFirst(5)) else {
            process.signal(SIGKILL)
            _ = await process.exitStatus()
            throw Failure(description: "upstream.py did not say its port: \(await process.completeStandardError())")
        }
        return PythonUpstream(process: process, port: port)
    }

    /// Killed, not asked: it keeps nothing, and a signal mask it inherited cannot stall it.
    func stop() {
        self.process.signal(SIGKILL)
        self.process.waitForExit()
    }
}
