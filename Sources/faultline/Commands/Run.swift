import ArgumentParser
import FaultlineChecker
import FaultlineCore
import FaultlineFraming
import FaultlineHost
import FaultlineProxy
import FaultlineReplay
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `faultline run`: the CI chaos stage. Start the run file's proxies, run a command
/// against them, stop them, judge what they recorded, exit with the worst result.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command against faulty proxies, then check what happened (the CI chaos stage).",
        discussion: """
            Starts every proxy the run file names (see docs/run.md), waits until each \
            listens, and runs COMMAND with their addresses in its environment: for a \
            proxy named api, FAULTLINE_API_ADDR=host:port, FAULTLINE_API_HOST, \
            FAULTLINE_API_PORT and FAULTLINE_API_UPSTREAM; FAULTLINE_SEED holds the \
            seed. COMMAND's standard input, output and error are its own; SIGINT, \
            SIGTERM and SIGHUP are passed on to it (to its whole process group unless \
            faultline runs in a terminal's foreground: in CI, for one), and the run \
            goes on as after any exit once it has exited. A signal after COMMAND has \
            exited ends the proxies' grace at once (their records are still flushed \
            and checked). With --timeout (or the run file's \
            'timeout'), a COMMAND still running after that long is sent SIGTERM the \
            same way, then SIGKILL when it is still running --kill-after later \
            (default 10s), and the run goes on as after any exit. When it exits, the \
            proxies drain and their \
            event logs and captures are flushed into the output folder, the run file's \
            checks run over them (retries: 'check retries' over the proxies' logs; \
            idempotency: 'check idempotency' replays one proxy's recorded requests \
            against its upstream), and their reports (JUnit XML for CI, HTML for \
            people, JSON) are written there too. A summary goes to standard error: the \
            command's status, the faults injected by rule, the findings by rule, and \
            where the reports are.

            The seed is printed with the exact command that replays the run. --seed \
            sets the run's seed: every proxy without a 'seed' of its own uses it.

            While COMMAND runs with standard error on a terminal, a progress line \
            (connections, messages, faults so far, per proxy) is printed there at most \
            every 5 seconds, when the counts changed: a whole line each time, never \
            redrawn, so it cannot run into COMMAND's own output.

            Exit status: before COMMAND runs, 2 for a bad run file (FILE:LINE:COLUMN) \
            and 3 for a runtime failure (a port in use, a command that cannot start). \
            Once it has run, the summary is printed and the reports written, and the \
            status is 124 when COMMAND timed out, whatever it exited with; else \
            COMMAND's own failure (its status passed through; 128+N when a signal N \
            ended it); then 3 when a check could not run (its reports \
            say why; nothing to replay is said but fails nothing); then 1 when a check \
            found violations; else 0.
            """
    )

    @Option(help: ArgumentHelp("The run file (YAML or JSON): proxies, records, checks.", valueName: "file"))
    var config: String

    @Option(help: ArgumentHelp("The run's seed, for every proxy without its own 'seed' (overrides the run file's 'seed').", valueName: "n"))
    var seed: UInt64?

    @Option(help: ArgumentHelp("Folder for logs, captures and reports (default: the run file's 'output', else ./faultline-run).", valueName: "dir"))
    var output: String?

    @Option(help: ArgumentHelp("How long open connections may finish after COMMAND exits (default: the run file's 'grace', else 5s).", valueName: "duration"))
    var grace: DurationArgument?

    @Option(help: ArgumentHelp("End COMMAND when it runs longer than this: SIGTERM, then SIGKILL --kill-after later; exit 124 (default: the run file's 'timeout', else no limit).", valueName: "duration"))
    var timeout: PositiveDurationArgument?

    @Option(help: ArgumentHelp("After the timeout's SIGTERM, how long COMMAND has to exit before SIGKILL (default: the run file's 'kill_after', else 10s). Needs a timeout.", valueName: "duration"))
    var killAfter: PositiveDurationArgument?

    @OptionGroup var logging: LoggingOptions

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command to run, after '--'.", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        if self.command.isEmpty {
            throw ValidationError("give the command to run after '--', e.g. faultline run --config chaos.yaml -- make integration-test")
        }
    }

    /// `--kill-after` with no time limit from the flag or the run file would do nothing.
    private func checkKillAfter(_ file: RunFile) throws {
        if self.killAfter != nil, self.timeout == nil, file.timeout == nil {
            throw InvalidInputError("--kill-after does nothing without a timeout: add --timeout (or 'timeout' in \(self.config)), or leave --kill-after out")
        }
    }

    func run() async throws {
        // A bad rules file is bad input, reported with the run file's other problems.
        var ruleSettings = RuleSettings()
        let file = try await RunFile.load(
            path: self.config,
            rulesFile: { path in
                do {
                    ruleSettings = try RuleSettings.load(path: path)
                    return []
                } catch let error as RuleSettingsError {
                    return error.issues
                } catch {
                    return [ProfileIssue(ProfileLocation(file: path), "\(error)")]
                }
            },
            probe: Self.probeProblem
        )
        try self.checkKillAfter(file)
        let output = self.output ?? file.output ?? "faultline-run"
        do {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        } catch {
            throw InvalidInputError("--output \(output): cannot create the folder")
        }
        Self.removeReports(in: output)
        let runSeed = self.seed ?? file.seed ?? UInt64.random(in: 0...UInt64(Int64.max))
        let specs = file.specs(output: output, seed: runSeed)
        self.logging.bootstrap(defaultLevel: .warning)
        let logger = Logger(label: "faultline.run")
        OpenFileLimit.raiseToHardLimit()

        let signals = TerminationSignals()
        var proxies: [HostedProxy] = []
        do {
            for spec in specs {
                do {
                    proxies.append(try await ProxyHost.start(spec, logger: logger))
                } catch let failure as RuntimeFailure {
                    // The engine words it for `faultline proxy --listen`; here it is a
                    // proxy of the run file.
                    let message = failure.message.hasPrefix("--listen ") ? String(failure.message.dropFirst(2)) : failure.message
                    throw RuntimeFailure("proxy '\(spec.name)' (\(self.config)): \(message)")
                }
            }
        } catch {
            for proxy in proxies { try? await proxy.stop(grace: .zero) }
            throw error
        }
        let replay = self.replayCommand(seed: runSeed)
        printError("faultline: seed \(runSeed); replay this run with: \(replay)")
        for proxy in proxies {
            printError("faultline: \(proxy.name) on \(proxy.address) -> \(proxy.spec.upstream)\(Self.describe(proxy.spec))")
        }

        let limit = (self.timeout?.duration ?? file.timeout).map { TimeLimit(after: $0, killAfter: self.killAfter?.duration ?? file.killAfter) }
        let status = try await self.runCommand(proxies: proxies, seed: runSeed, signals: signals, limit: limit)
        // A signal once the command has ended (a second Ctrl-C) ends the proxies' grace
        // at once; their records are flushed and the checks run all the same.
        let hurry = Task {
            guard let signal = await signals.next() else { return }
            printError("faultline: \(TerminationSignals.name(signal)): ending the grace now")
            for proxy in proxies { proxy.endGrace() }
        }
        let ending = await self.finish(file, proxies: proxies, status: status, settings: ruleSettings, output: output, replay: replay)
        hurry.cancel()
        // The first that applies (docs/run.md, "Exit status"): the command timed out or
        // failed, a check that could not run, violations.
        if status.timedOut != nil { throw ExitCode(Self.timedOutStatus) }
        if status.code != 0 { throw ExitCode(status.code) }
        if ending.failed { throw ExitCode(ExitStatus.runtime) }
        if ending.violations { throw ExitCode(ExitStatus.violations) }
    }

    /// How the stage after the command went: whether a check found violations, and
    /// whether something failed (a proxy's records, a check that could not run).
    struct Ending {
        var violations = false
        var failed = false

        mutating func record(_ outcome: CheckOutcome) {
            self.violations = self.violations || outcome.hasViolations
            self.failed = self.failed || outcome.failed
        }
    }

    /// After the command: stops every proxy at once (each drains for `grace` and flushes
    /// its records, even when another fails), runs the checks, writes their reports and
    /// prints the summary. Never throws: whatever fails here is said in the summary and
    /// in the check's reports, and the summary is always printed.
    private func finish(
        _ file: RunFile, proxies: [HostedProxy], status: Status, settings: RuleSettings, output: String, replay: String
    ) async -> Ending {
        let grace = self.grace?.duration ?? file.grace
        let open = proxies.filter { $0.spec.transport == .tcp }.reduce(0) { $0 + $1.open }
        if open > 0, grace > .zero {
            printError(
                "faultline: \(counted(open, "connection")) still open: waiting up to \(DurationText.format(grace)) for them (--grace); a signal (Ctrl-C) ends the wait"
            )
        }
        let failures = await withTaskGroup(of: (name: String, error: any Error)?.self) { group in
            for proxy in proxies {
                group.addTask {
                    do {
                        try await proxy.stop(grace: grace)
                        return nil
                    } catch {
                        return (proxy.name, error)
                    }
                }
            }
            var failures: [String: any Error] = [:]
            for await case let failure? in group { failures[failure.name] = failure.error }
            return failures
        }

        var ending = Ending(failed: !failures.isEmpty)
        var summary: [String] = ["", "faultline run: \(Self.describe(status: status))"]
        for proxy in proxies {
            let counts = (proxy.tally?.counts ?? EventTally.Counts())
            let rules = counts.faultsByRule.map { "\($0.count) \($0.rule)" }.joined(separator: ", ")
            summary.append("  \(proxy.name): \(Self.describe(counts))" + (rules.isEmpty ? "" : " (\(rules))"))
            if let failure = failures[proxy.name] {
                summary.append("    its records may be incomplete: \(failure)")
            }
        }
        if let check = file.retries {
            let outcome = self.checkRetries(check, settings: settings, proxies: proxies, output: output, formats: file.reports)
            ending.record(outcome)
            summary += outcome.summaryLines(check: "retries")
        }
        if let check = file.idempotency, let proxy = proxies.first(where: { $0.name == check.proxy }) {
            let outcome = await Self.checkIdempotency(check, proxy: proxy, output: output, formats: file.reports)
            ending.record(outcome)
            summary += outcome.summaryLines(check: "idempotency")
        }
        summary.append("  records and reports: \(output)/")
        summary.append("  replay: \(replay)")
        for line in summary { printError(line) }
        return ending
    }

    /// A proxy's counts as the summary (and, `briefly`, a progress line) says them.
    /// Clients a refuse rule turned away are said apart, as `log summary` says them: they
    /// are faults but never connections, and "0 connections, 1 fault" read as if nothing
    /// had come.
    static func describe(_ counts: EventTally.Counts, briefly: Bool = false) -> String {
        var parts = [counted(counts.connections, "connection")]
        if counts.refused > 0 { parts.append(briefly ? "\(counts.refused) refused" : RefuseFault.refused(counts.refused)) }
        parts += [counted(counts.messages, "message"), counted(counts.faults, "fault")]
        return parts.joined(separator: ", ")
    }

    // MARK: The command

    /// The exit status of a run whose command timed out, as timeout(1) has it.
    static let timedOutStatus: Int32 = 124

    struct Status {
        var code: Int32
        var signal: Int32?
        /// Set when the time limit ended the command.
        var timedOut: TimedOut?

        struct TimedOut {
            var limit: TimeLimit
            /// Whether the command outlived SIGTERM by `killAfter` and was sent SIGKILL.
            var killed: Bool
        }
    }

    /// `--timeout` and `--kill-after` (or the run file's `timeout` and `kill_after`).
    struct TimeLimit {
        var after: Duration
        var killAfter: Duration
    }

    /// A `checks.idempotency.probe` read as replay reads it, when the run file is read:
    /// why it cannot be sent, or nil.
    static func probeProblem(_ probe: RunFile.Probe) async -> String? {
        guard let wire = ReplayProtocol(rawValue: probe.framing) else { return nil }
        do {
            _ = try StateProbe.parse(probe.text, wire: wire, target: probe.target)
            return nil
        } catch {
            // Replay words it for `check idempotency`'s flags; here they are run-file keys.
            return "\(error)".replacingOccurrences(of: "--probe ", with: "probe ").replacingOccurrences(of: "--target ", with: "target ")
        }
    }

    private func runCommand(proxies: [HostedProxy], seed: UInt64, signals: TerminationSignals, limit: TimeLimit?) async throws -> Status {
        var environment = ProcessInfo.processInfo.environment
        environment["FAULTLINE_SEED"] = String(seed)
        for proxy in proxies {
            let name = "FAULTLINE_" + RunFile.environmentName(proxy.name)
            environment[name + "_ADDR"] = proxy.address.description
            environment[name + "_HOST"] = proxy.address.host
            environment[name + "_PORT"] = String(proxy.address.port)
            environment[name + "_UPSTREAM"] = proxy.spec.upstream.description
        }
        // Unless faultline runs in a terminal's foreground (CI has none), the command
        // leads a process group of its own and a signal reaches all of it: `sh -c 'sleep
        // 20; ...'`'s sleep too, which was left running. In the foreground it stays in
        // faultline's group, where it may read the terminal (a background group is
        // stopped for that, even with standard input redirected: a password prompt opens
        // /dev/tty) and Ctrl-C reaches every process of it already.
        let ownGroup = !Self.inTerminalForeground()
        let command: RunningCommand
        do {
            command = RunningCommand(pid: try Self.spawn(self.command, environment: environment, ownGroup: ownGroup), ownGroup: ownGroup)
        } catch {
            for proxy in proxies { try? await proxy.stop(grace: .zero) }
            throw error
        }
        let forwarding = Task {
            while let signal = await signals.next() {
                command.signal(signal)
            }
        }
        let watch = limit.map { limit in Task { await Self.enforce(limit, on: command) } }
        let progress = isatty(STDERR_FILENO) == 1 ? Task { await Self.showProgress(proxies) } : nil
        let exit = await command.waitForExit()
        forwarding.cancel()
        watch?.cancel()
        progress?.cancel()
        let timedOut = await watch?.value
        await progress?.value  // no progress line after the summary has begun
        return Status(code: exit.code, signal: exit.signal, timedOut: timedOut)
    }

    /// Ends `command` once it has run for `limit.after`: SIGTERM, as a signal sent to
    /// faultline is passed on (to its process group when it has one), then SIGKILL when
    /// it is still running `limit.killAfter` later. Each is said on standard error as it
    /// is sent. Returns nil when the command exited first (the task is cancelled then),
    /// else how the limit ended it; signals passed on meanwhile still go through.
    private static func enforce(_ limit: TimeLimit, on command: RunningCommand) async -> Status.TimedOut? {
        do { try await Task.sleep(for: limit.after) } catch { return nil }
        let whom = command.ownGroup ? "the command's process group" : "the command"
        guard command.signal(SIGTERM) else { return nil }
        printError(
            "faultline: the command ran longer than its timeout (\(DurationText.exact(limit.after))): sent SIGTERM to \(whom); SIGKILL follows in \(DurationText.exact(limit.killAfter)) if it is still running"
        )
        do { try await Task.sleep(for: limit.killAfter) } catch { return Status.TimedOut(limit: limit, killed: false) }
        guard command.signal(SIGKILL) else { return Status.TimedOut(limit: limit, killed: false) }
        printError("faultline: the command was still running \(DurationText.exact(limit.killAfter)) after SIGTERM: sent SIGKILL to \(whom)")
        return Status.TimedOut(limit: limit, killed: true)
    }

    /// Whether faultline's process group is its controlling terminal's foreground group.
    static func inTerminalForeground() -> Bool {
        let terminal = open("/dev/tty", O_RDONLY | O_NOCTTY)
        guard terminal >= 0 else { return false }
        defer { close(terminal) }
        return tcgetpgrp(terminal) == getpgrp()
    }

    /// Starts `command` (looked up in PATH) with posix_spawn rather than Foundation's
    /// `Process`: the child must start with default signal dispositions, nothing
    /// blocked, and no descriptor of this process's but 0, 1 and 2. This process ignores
    /// SIGPIPE (and SIGINT, SIGTERM and SIGHUP, which it waits for through `TerminationSignals`);
    /// a child that inherited an ignored SIGPIPE makes `producer | head` fail with EPIPE
    /// instead of ending quietly, and a shell cannot trap a signal that was ignored when
    /// it started. A command that cannot be started (not found, not executable) is a
    /// runtime failure, exit 3, not its status 127.
    ///
    /// With `ownGroup` the command leads a new process group (its pid is the group's id).
    static func spawn(_ command: [String], environment: [String: String], ownGroup: Bool = false) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        if ownGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= POSIX_SPAWN_SETPGROUP
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        // The command gets standard input, output and error, and none of this process's
        // other descriptors (listening sockets, capture files).
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let closing = addCloseFrom(&actions, STDERR_FILENO + 1)
        guard closing == 0 else {
            throw RuntimeFailure("cannot start '\(command[0])': \(String(cString: strerror(closing)))")
        }

        let arguments: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        let variables: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in arguments + variables { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, command[0], &actions, &attributes, arguments, variables)
        guard result == 0 else {
            throw RuntimeFailure("cannot start '\(command[0])': \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// How often a progress line may be printed.
    static let progressInterval = Duration.seconds(5)

    /// Prints a whole progress line on standard error every `progressInterval` in which
    /// a proxy's counts changed, until cancelled.
    ///
    /// Whole lines, never one redrawn with `\r`: the command writes to the same
    /// terminal, so a line redrawn in place had the command's output appended to it
    /// (`api: 1 conn, 2 msg, 1 faultattempt 0 failed: ...`) and was then half erased.
    /// A whole line can only fall between the command's lines (or after a line it left
    /// unfinished), and a quiet run prints none.
    private static func showProgress(_ proxies: [HostedProxy]) async {
        // Compared as shown: bytes change with every close, and would repeat the line.
        func shown(_ counts: (HostedProxy) -> EventTally.Counts) -> String {
            proxies.map { proxy in
                let counts = counts(proxy)
                return "\(proxy.name): \(Self.describe(counts, briefly: true))"
            }.joined(separator: " | ")
        }
        var last = shown { _ in EventTally.Counts() }
        while true {
            do { try await Task.sleep(for: Self.progressInterval) } catch { return }
            let line = shown { $0.tally?.counts ?? EventTally.Counts() }
            guard line != last, !Task.isCancelled else { continue }
            last = line
            printError("faultline: so far: " + line)
        }
    }

    // MARK: Checks

    /// What one check of the run came to: its report, already written into the output
    /// folder, or why the check did not run (then its report says so).
    struct CheckOutcome {
        enum NotRun {
            /// Nothing to judge, and nothing asked for that was missing: said, not a failure.
            case nothingToJudge(String)
            /// The check could not do what the run file asks: a runtime failure (exit 3).
            case failed(String)
        }

        var report: CheckReport
        var notRun: NotRun?
        /// Why the reports could not be written, when they could not.
        var unwritten: String?

        var failed: Bool {
            if case .failed = self.notRun { return true }
            return self.unwritten != nil
        }

        var hasViolations: Bool { self.notRun == nil && self.report.hasViolations }

        func summaryLines(check: String) -> [String] {
            var lines: [String]
            switch self.notRun {
            case .nothingToJudge(let reason):
                lines = ["  check \(check): not run: \(reason)"]
            case .failed(let reason):
                lines = ["  check \(check): could not run: \(reason)"]
            case nil:
                lines = Run.findingLines(self.report, check: check)
                for verdict in self.report.operations ?? [] {
                    lines.append("    \(verdict.operation): \(verdict.classification.words)")
                }
            }
            if let unwritten = self.unwritten { lines.append("    its reports were not written: \(unwritten)") }
            return lines
        }

        /// A check that did not run still has reports, so CI never shows last run's or
        /// none: one result, `not-run CHECK_NOT_RUN`, skipped (not applicable) when there
        /// was nothing to judge and failed (a JUnit failure) when the check could not
        /// run, with the reason as its evidence and as the report's note.
        static func notRun(_ notRun: NotRun, check: String, inputs: [String]) -> CheckOutcome {
            var report = CheckReport(check: check, inputs: inputs, origin: 0)
            let words: String
            let status: CheckReport.RuleResult.Status
            switch notRun {
            case .nothingToJudge(let reason):
                words = "not run: \(reason)"
                status = .notApplicable
            case .failed(let reason):
                words = "could not run: \(reason)"
                status = .failed
            }
            report.rules = [
                CheckReport.RuleResult(
                    id: CheckReport.RuleResult.notRun, name: "CHECK_NOT_RUN", severity: status == .failed ? .high : .info, status: status,
                    evidence: words, minimumSamples: 0
                )
            ]
            report.notes = [words]
            if check == "idempotency" { report.operations = [] }
            return CheckOutcome(report: report, notRun: notRun)
        }
    }

    private func checkRetries(
        _ check: RunFile.RetriesCheck, settings: RuleSettings, proxies: [HostedProxy], output: String, formats: [String]
    ) -> CheckOutcome {
        let chosen = proxies.filter { proxy in
            // Every proxy whose log has requests: framed TCP, and UDP (each datagram).
            check.proxies.isEmpty ? proxy.spec.transport == .udp || proxy.spec.framing.kind != .raw : check.proxies.contains(proxy.name)
        }
        let logs = chosen.compactMap(\.spec.records.log)
        var options = RetryCheckOptions(settings: settings)
        if let value = check.maxAttempts { options.maxAttempts = value }
        if let value = check.deadline { options.deadline = value }
        if let value = check.window { options.window = value }
        if let value = check.keyHeader { options.keyHeader = value }
        var outcome: CheckOutcome
        do {
            var report = try RetryChecker.check(logs: logs, options: options)
            if logs.isEmpty {
                report.notes.append("no proxy of this run has framing, so there were no requests to judge")
            }
            outcome = CheckOutcome(report: report)
        } catch {
            outcome = .notRun(.failed("\(error)"), check: "retries", inputs: logs)
        }
        Self.write(&outcome, named: "retries", output: output, formats: formats)
        return outcome
    }

    /// `checks.idempotency`: replays the proxy's recorded requests against the target,
    /// progress on standard error, reports beside the retry check's.
    ///
    /// A proxy that recorded no request leaves nothing to replay: the check is not run,
    /// which is said but fails nothing, unless `only` names operations the run was
    /// meant to exercise. Any other reason it cannot run (the target never answers, an
    /// `only` operation the log lacks) is a runtime failure.
    private static func checkIdempotency(
        _ check: RunFile.IdempotencyCheck, proxy: HostedProxy, output: String, formats: [String]
    ) async -> CheckOutcome {
        let log = proxy.spec.records.log
        let inputs = (log.map { [$0] } ?? []) + ["target \(check.target)"]
        var outcome: CheckOutcome
        if let log {
            if let counts = proxy.tally?.counts, counts.requests == 0 {
                let reason = "the log has no requests to replay: proxy '\(proxy.name)' recorded none"
                outcome = check.only.isEmpty
                    ? .notRun(.nothingToJudge(reason), check: "idempotency", inputs: inputs)
                    : .notRun(.failed(reason + " (only: \(check.only.joined(separator: ", ")))"), check: "idempotency", inputs: inputs)
            } else {
                var options = IdempotencyCheckOptions(target: ReplayTarget(address: check.target))
                options.probes = check.probes
                options.only = check.only
                options.keyRequired = check.keyRequired
                if let mode = check.mode.flatMap(IdempotencyCheckOptions.Mode.init(rawValue:)) { options.mode = mode }
                do {
                    let replay = IdempotencyCheck(
                        options: options, recorded: try RecordedRequests.load(path: log), inputs: [log], progress: { printError($0) }
                    )
                    outcome = CheckOutcome(report: try await replay.run())
                } catch {
                    outcome = .notRun(.failed("\(error)"), check: "idempotency", inputs: inputs)
                }
            }
        } else {
            outcome = .notRun(.failed("proxy '\(check.proxy)' kept no log to replay"), check: "idempotency", inputs: inputs)
        }
        Self.write(&outcome, named: "idempotency", output: output, formats: formats)
        return outcome
    }

    /// Writes the outcome's report; a failure to write is kept in the outcome.
    private static func write(_ outcome: inout CheckOutcome, named name: String, output: String, formats: [String]) {
        do {
            try Self.writeReports(outcome.report, named: name, output: output, formats: formats)
        } catch {
            outcome.unwritten = "\(error)"
        }
    }

    /// Writes `report` as `NAME.junit.xml`, `NAME.html`, ... into `output`.
    private static func writeReports(_ report: CheckReport, named name: String, output: String, formats: [String]) throws {
        for format in formats {
            guard let kind = ReportFormat(rawValue: format) else { continue }
            let path = (output as NSString).appendingPathComponent("\(name).\(Self.fileExtension(kind))")
            try ReportOutput.write(ReportWriter.write(report, as: kind), to: path)
        }
    }

    /// Deletes the reports an earlier run left in `output`: a CI job publishing
    /// `retries.junit.xml` must never publish a stale one when this run writes none.
    static func removeReports(in output: String) {
        for format in RunFile.reportFormats {
            guard let kind = ReportFormat(rawValue: format) else { continue }
            for name in ["retries", "idempotency"] {
                try? FileManager.default.removeItem(atPath: (output as NSString).appendingPathComponent("\(name).\(Self.fileExtension(kind))"))
            }
        }
    }

    static func fileExtension(_ format: ReportFormat) -> String {
        switch format {
        case .junit: "junit.xml"
        case .html: "html"
        case .json: "json"
        case .text: "txt"
        }
    }

    static func findingLines(_ report: CheckReport, check: String) -> [String] {
        let violations = report.findings.filter { $0.severity >= .low }
        guard !violations.isEmpty else {
            let judged: String
            switch report.counts {
            case .retries(let summary):
                judged = "\(counted(summary.logicalRequests, "logical request")), \(summary.retried) retried"
            case .idempotency(let replay):
                // Operations the target stopped answering before are inconclusive, not
                // replayed; probe reads are not replayed requests.
                let inconclusive = replay.operationsByClassification.inconclusive
                judged = "\(counted(replay.operations, "operation")): \(replay.operations - inconclusive) judged, \(inconclusive) inconclusive; "
                    + "\(counted(replay.requestsSent, "replayed request")) and \(counted(replay.probeRequests, "probe read")) sent"
            }
            return ["  check \(check): no violations (\(judged))"]
        }
        var byRule: [(rule: String, name: String, count: Int)] = []
        for finding in violations {
            if let index = byRule.firstIndex(where: { $0.rule == finding.rule }) {
                byRule[index].count += 1
            } else {
                byRule.append((finding.rule, finding.name, 1))
            }
        }
        return ["  check \(check): \(violations.count) violation\(violations.count == 1 ? "" : "s")"]
            + byRule.map { "    \($0.rule) \($0.name): \($0.count)" }
    }

    // MARK: Words

    /// The command that replays this run: always with `--seed`, which gives every proxy
    /// that does not pin its own seed the same seed again (`RunFile.specs`).
    private func replayCommand(seed: UInt64) -> String {
        var words = ["faultline", "run", "--config", self.config]
        words += ["--seed", String(seed)]
        if let output = self.output { words += ["--output", output] }
        // The grace and time limit too when the command line set them (the run file's
        // are in the file): a shorter grace can end connections, and so change the log.
        // Each as it was written, so it reads back to the very same value (`70s`, never
        // a rounded `1.167m`).
        if let grace = self.grace { words += ["--grace", grace.argument] }
        if let timeout = self.timeout { words += ["--timeout", timeout.argument] }
        if let killAfter = self.killAfter { words += ["--kill-after", killAfter.argument] }
        return (words + ["--"] + self.command).map(Self.shellQuoted).joined(separator: " ")
    }

    static func shellQuoted(_ word: String) -> String {
        let safe = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=@%+,".contains($0) }
        if safe, !word.isEmpty { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    private static func describe(_ spec: ProxySpec) -> String {
        var parts: [String] = []
        if spec.transport == .udp { parts.append("udp") }
        if let profile = spec.profile { parts.append("profile \(profile.name)") }
        if spec.framing.kind != .raw { parts.append("framing \(spec.framing.kind.name)") }
        return parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))"
    }

    private static func describe(status: Status) -> String {
        if let timedOut = status.timedOut {
            let ended: String
            if let signal = status.signal {
                let name = TerminationSignals.name(signal)
                ended = timedOut.killed && signal == SIGKILL
                    ? "ended with SIGKILL: still running \(DurationText.exact(timedOut.limit.killAfter)) after SIGTERM"
                    : "ended with \(name)"
            } else {
                ended = "exited with status \(status.code) on SIGTERM"
            }
            return "the command timed out after \(DurationText.exact(timedOut.limit.after)) (\(ended))"
        }
        if let signal = status.signal { return "the command was ended by signal \(signal) (status \(status.code))" }
        return status.code == 0 ? "the command passed" : "the command failed with status \(status.code)"
    }
}
