import ArgumentParser
import FaultlineCore
import FaultlineHost
import FaultlineProxy
import FaultlineServe
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `faultline serve`: a control API hosting many proxies, changed at run time.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Host many proxies behind a control API (Toxiproxy-compatible, plus /v1 and /metrics).",
        discussion: """
            Starts an HTTP control API on --api and hosts any number of TCP and UDP \
            proxies that requests create, change and delete while they run. The same \
            port answers three APIs:

            Toxiproxy's (/proxies, /proxies/NAME/toxics, /populate, /reset, /version) with \
            its fields, statuses and error bodies, so code written against Toxiproxy's \
            client libraries works unchanged (see docs/toxiproxy.md for how each toxic \
            maps onto faultline's faults);

            the native /v1 API (docs/api.md, docs/openapi.yaml): whole profiles, single \
            rules, UDP proxies, framing, seeds, each proxy's events, and packet captures \
            started and stopped while it runs (open connections included; 'faultline ctl \
            pcap start|stop NAME');

            /metrics, in Prometheus text format.

            A change applies to new data on open connections at once; open connections \
            are not dropped unless a fault says so. Every decision derives from the \
            proxy's seed (--seed, or the one a request gives), its name and the rule's \
            name, so the same toxics and the same seed fault the same connections.

            The API listens on loopback unless --api says otherwise; any other address \
            needs a token (--token, or FAULTLINE_TOKEN in the environment), which every \
            request must then send as 'Authorization: Bearer TOKEN'. Request bodies \
            above --max-body are refused (413).

            On start it prints 'listening on HOST:PORT' (the API's real address). On \
            SIGINT, SIGTERM or SIGHUP (the terminal closed) it stops answering, lets \
            open connections finish for --grace, closes the rest, flushes every log \
            and capture, and exits 0. A second such signal during --grace ends the \
            grace at once; logs and captures are still flushed.

            Exit status: 0 after a clean stop; 2 bad usage or a bad --config \
            (FILE:LINE:COLUMN); 3 the API's address in use, or a proxy of --config \
            unable to listen.
            """
    )

    @Option(help: ArgumentHelp("Address of the control API; port 0 picks a free port.", valueName: "host:port"))
    var api: String = "127.0.0.1:8474"

    @Option(
        help: ArgumentHelp(
            "Proxies to create at start: a JSON array as /populate takes it; entries may list 'toxics' too.", valueName: "file"
        )
    )
    var config: String?

    @Option(help: ArgumentHelp("Bearer token every request must send (or FAULTLINE_TOKEN); required off loopback.", valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp("Write each proxy's event log to DIR/NAME.jsonl (DIR is made if missing).", valueName: "dir"))
    var log: String?

    @Option(help: ArgumentHelp("Write each proxy's capture of both legs to DIR/NAME.pcap (DIR is made if missing).", valueName: "dir"))
    var pcap: String?

    @Option(
        help: ArgumentHelp(
            "How much captured payload may wait for each capture's writer (default 64M); beyond it packets are dropped and counted (capture_dropped).",
            valueName: "size"
        )
    )
    var pcapBuffer: ByteSizeArgument?

    @Option(help: ArgumentHelp("Seed of every proxy that does not name its own; without it each proxy picks one.", valueName: "n"))
    var seed: UInt64?

    @Option(help: ArgumentHelp("How long open connections may finish on SIGINT, SIGTERM or SIGHUP; a second signal ends it.", valueName: "duration"))
    var grace: DurationArgument = DurationArgument(.seconds(5))

    @Option(help: ArgumentHelp("Largest request body the API reads: 1M, 64K (default: 1M).", valueName: "size"))
    var maxBody: ByteSizeArgument?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        let address = try Self.address(self.api)
        if !Self.isLoopback(address.host), self.resolvedToken() == nil {
            throw ValidationError(
                "--api \(self.api) is not a loopback address: a token is required (--token TOKEN or FAULTLINE_TOKEN), or listen on 127.0.0.1"
            )
        }
        if let token = self.resolvedToken(), token.count < 8 {
            throw ValidationError("the token is too short: use at least 8 characters (16 or more random ones are better)")
        }
        if let buffer = self.pcapBuffer, buffer.bytes > Int64(Int32.max) {
            throw ValidationError("--pcap-buffer \(buffer): at most 2G")
        }
        if let size = self.maxBody, size.bytes < 1024 || size.bytes > 64 << 20 {
            throw ValidationError("--max-body must be from 1K to 64M, got \(size)")
        }
        for (flag, folder) in [("--log", self.log), ("--pcap", self.pcap)] {
            var isDirectory: ObjCBool = false
            if let folder, FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw ValidationError("\(flag) \(folder): a file, not a directory")
            }
        }
    }

    /// Makes the --log and --pcap folders (parents too) when missing, as run makes its
    /// output folder: a CI job's fresh checkout has no logs/ yet. Done when serve
    /// starts, not while its arguments are read.
    func makeFolders() throws {
        for (flag, folder) in [("--log", self.log), ("--pcap", self.pcap)] {
            guard let folder else { continue }
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw InvalidInputError("\(flag) \(folder): cannot make the directory (\((error as NSError).localizedFailureReason ?? error.localizedDescription))")
            }
        }
    }

    func run() async throws {
        self.logging.bootstrap()
        let logger = Logger(label: "faultline.serve")
        try self.makeFolders()
        OpenFileLimit.raiseToHardLimit()
        // `logs/` and `logs` name one folder: file paths in the API say `logs/api.jsonl`.
        func folder(_ path: String?) -> String? {
            guard var path, path.count > 1 else { return path }
            while path.count > 1, path.hasSuffix("/") { path.removeLast() }
            return path
        }
        var options = ServeOptions(logDirectory: folder(self.log), pcapDirectory: folder(self.pcap), seed: self.seed)
        options.shutdownGrace = self.grace.duration
        options.pcapBuffer = self.pcapBuffer.map { Int($0.bytes) }
        let store = ProxyStore(options: options, logger: logger, launch: HostedProxyLauncher.make(logger: Logger(label: "faultline.proxy")))
        let api = ControlAPI(
            store: store,
            metrics: ServeMetrics(),
            token: self.resolvedToken(),
            loader: ProfileLoader.fromEnvironment(),
            version: Faultline.configuration.version,
            logger: logger
        )
        if let config = self.config {
            do {
                try await ServeConfigFile.load(config, into: api)
            } catch {
                // Proxies made before the failure (an address in use) stop, their logs
                // flushed, before the error is said.
                await store.shutdown()
                throw error
            }
        }
        let server = ControlServer(
            api: api,
            address: try Self.address(self.api),
            maxBodyBytes: self.maxBody.map { Int($0.bytes) } ?? ControlServer.defaultMaxBodyBytes,
            logger: logger
        )
        let started = StartFlag()
        // Signals are taken here, not by the service group, so that a second one can
        // end the grace: the first (SIGINT, SIGTERM or SIGHUP) shuts down gracefully.
        let signals = TerminationSignals()
        let group = server.serviceGroup { address in
            started.set()
            Output.line("listening on \(address)")
        }
        let watch = Task {
            guard let signal = await signals.next() else { return }
            logger.info("stopping", metadata: ["signal": "\(TerminationSignals.name(signal))"])
            await group.triggerGracefulShutdown()
            guard let second = await signals.next() else { return }
            logger.notice("second signal: ending the grace now", metadata: ["signal": "\(TerminationSignals.name(second))"])
            await store.endGrace()
        }
        defer { watch.cancel() }
        do {
            try await group.run()
            await server.close()
        } catch {
            await server.close()
            await store.shutdown()
            if !started.isSet {
                throw RuntimeFailure("--api \(self.api): cannot listen: \(Self.reason(error))")
            }
            throw RuntimeFailure("the control API stopped: \(Self.reason(error))")
        }
    }

    func resolvedToken() -> String? {
        let token = self.token ?? ProcessInfo.processInfo.environment["FAULTLINE_TOKEN"]
        return token.flatMap { $0.isEmpty ? nil : $0 }
    }

    static func address(_ text: String) throws -> HostPort {
        do {
            return try HostPort(parsing: text, what: "--api")
        } catch let error as InvalidInputError {
            throw ValidationError(error.message)
        }
    }

    /// 127.0.0.0/8, ::1 and localhost: what only this machine can reach.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".")
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    static func reason(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("Address already in use") || text.contains("EADDRINUSE") || text.contains("errno: 98") {
            return "address already in use"
        }
        return text
    }
}

/// Whether the API came up, for the error message when it did not.
final class StartFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    func set() {
        self.lock.lock()
        self.value = true
        self.lock.unlock()
    }

    var isSet: Bool {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.value
    }
}
