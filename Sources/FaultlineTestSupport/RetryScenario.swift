import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One recorded run for the retry checker, as a user makes it: a small HTTP upstream on
/// `127.0.0.1:0`, `faultline proxy --framing http --profile P --seed N --log LOG` in front
/// of it, a client run against the proxy's port, then SIGTERM so the proxy drains and the
/// log is complete.
///
///     upstream.py (port 0) ◀── faultline proxy (port 0, LOG) ◀── client (any process)
///
/// Nothing waits on a clock: each step awaits a line or a process's exit.
package struct RetryScenario: Sendable {
    /// Debian's interpreter: the clients use only its standard library (and
    /// python3-urllib3 for the urllib3 driver).
    package static let python = URL(fileURLWithPath: "/usr/bin/python3")

    /// A shipped profile's name or a profile file.
    package var profile: String?
    package var seed: UInt64
    /// `--framing`; nil records a raw log (which the checker must refuse).
    package var framing: String?
    /// The upstream script: prints `port N` first, ends on SIGTERM.
    package var upstream: URL
    /// A UDP proxy (`--udp`, every datagram a message) instead of a TCP one.
    package var udp: Bool

    package init(profile: String?, seed: UInt64, framing: String? = "http", udp: Bool = false, upstream: URL) {
        self.profile = profile
        self.seed = seed
        self.framing = framing
        self.udp = udp
        self.upstream = upstream
    }

    /// What one run left behind.
    package struct Recording: Sendable {
        package var log: String
        /// The client's exit status, output (its JSON lines) and standard error.
        package var client: ChildProcess.Result
        package var proxyStatus: Int32
        package var proxyStandardError: String
    }

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// Runs the scenario, writing the proxy's log to `log`; `client` is handed the
    /// proxy's port and runs the client to completion.
    package func record(
        log: String,
        client: @Sendable (_ port: Int) async throws -> ChildProcess.Result
    ) async throws -> Recording {
        let upstream = try ChildProcess(Self.python, [self.upstream.path])
        guard let line = await upstream.nextLine(), line.hasPrefix("port "), let upstreamPort = Int(line.dropFirst(5)) else {
            upstream.signal(SIGKILL)
            _ = await upstream.exitStatus()
            throw Failure(description: "the upstream did not say its port: \(await upstream.completeStandardError())")
        }
        var arguments = [
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(upstreamPort)",
            "--seed", String(self.seed), "--log", log,
        ]
        if self.udp { arguments.append("--udp") }
        if let framing = self.framing { arguments += ["--framing", framing] }
        if let profile = self.profile { arguments += ["--profile", profile] }
        let proxy: ChildProcess
        do {
            proxy = try FaultlineBinary.start(arguments)
        } catch {
            upstream.signal(SIGKILL)
            _ = await upstream.exitStatus()
            throw error
        }
        guard let port = await proxy.listeningPort() else {
            upstream.signal(SIGKILL)
            _ = await upstream.exitStatus()
            let status = await proxy.exitStatus()
            throw Failure(description: "the proxy did not listen (exit \(status)): \(await proxy.completeStandardError())")
        }
        let result: ChildProcess.Result
        do {
            result = try await client(port)
        } catch {
            proxy.signal(SIGKILL)
            upstream.signal(SIGKILL)
            _ = await proxy.exitStatus()
            _ = await upstream.exitStatus()
            throw error
        }
        proxy.signal(SIGTERM)
        let proxyStatus = await proxy.exitStatus()
        // The upstream keeps nothing: it is killed rather than asked, so a signal mask it
        // inherited can never leave the test waiting for it.
        upstream.signal(SIGKILL)
        _ = await upstream.exitStatus()
        return Recording(log: log, client: result, proxyStatus: proxyStatus, proxyStandardError: await proxy.completeStandardError())
    }
}

extension ChildProcess.Result {
    /// Several processes' results as one: the worst status, outputs in order.
    package static func folded(_ results: [ChildProcess.Result]) -> ChildProcess.Result {
        ChildProcess.Result(
            status: results.map(\.status).max() ?? 0,
            stdout: results.map(\.stdout).joined(separator: "\n"),
            stderr: results.map(\.stderr).joined()
        )
    }
}
