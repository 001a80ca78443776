import ArgumentParser
import FaultlineCore
import FaultlineFraming
import FaultlineHost
import FaultlineProxy
import FaultlineRecords
import Logging
import NIOCore
import NIOPosix

/// `faultline proxy`: one proxy in the foreground until SIGINT or SIGTERM.
struct Proxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one proxy between a client and a real service.",
        discussion: """
            Accepts connections on --listen and joins each to a new connection to \
            --upstream, forwarding both directions byte for byte. Half-close travels \
            (a client that shuts its write side still gets the whole reply) and so do \
            resets. When the upstream is down, the client's connection is closed at \
            once and the reason is logged on standard error; the proxy keeps serving.

            With --profile, faults are injected as the profile says (see \
            faultline-profile(5)); every decision derives from the seed, so the same \
            seed and the same traffic give the same faults. The seed is logged at start \
            ('seed N' on standard error) and written in the proxy_start event.

            On start it prints 'listening on HOST:PORT' on standard output (the real \
            port when --listen asks for port 0). On SIGINT, SIGTERM or SIGHUP (the \
            terminal closed) it stops accepting, lets open connections finish for \
            --grace, closes the rest, flushes the event log and the capture, and exits \
            0. A second such signal during --grace ends the grace at once: open \
            connections close then, and the log and capture are still flushed.

            --log writes every event as JSON Lines (see faultline-events(5)); writing \
            never slows the proxy, and if the log falls behind a log_dropped event says \
            how many events were lost. --pcap writes a standard pcap file with both legs \
            of every connection (client to proxy, proxy to upstream) as synthetic IP/TCP \
            packets; it needs no privileges.

            With --framing other than raw, each connection is cut into messages \
            (requests and replies) without changing a byte, and each message is \
            recorded with its protocol facts (HTTP method, path, status, \
            Idempotency-Key; RESP command; a request fingerprint). Bytes that do not \
            parse, a message over a limit, or a message that stays incomplete for \
            --max-hold make that connection's direction carry raw from there on, and a \
            framing_fallback event says why: framing never breaks a connection. An \
            HTTP Upgrade or CONNECT carries the rest of the connection raw too.

            A profile may say 'framing:' itself; --framing overrides it. A profile with \
            message rules (drop, duplicate, reorder, respond, or a sever at a point of \
            a message) needs a framing other than raw, from either: without one the \
            proxy refuses to start (exit 2) rather than ignore those rules.

            With --udp it proxies datagrams instead: each client address gets its own \
            upstream socket (so replies go back to the right client), opened by its \
            first datagram and closed after --udp-idle-timeout without traffic. At \
            most --udp-max-sessions are open at once; datagrams from new clients \
            beyond that are dropped and the first time it happens a warning says so. \
            --profile then names a profile that says 'transport: udp' (loss, \
            duplicate, reorder, delay, corrupt, rate, decided per datagram); each \
            fault is a fault event in --log, and --pcap records the datagrams of both \
            legs as UDP packets. On SIGINT or SIGTERM each session may send what \
            faults still hold for up to --grace and closes once nothing is held; \
            what is held after that is discarded, counted as dropped in conn_close. \
            --connect-timeout does not apply to UDP.
            """
    )

    @Option(help: ArgumentHelp("Address to accept clients on; port 0 picks a free port.", valueName: "host:port"))
    var listen: String

    @Option(help: ArgumentHelp("Address of the real service. A host name is resolved for each TCP connection and its addresses are tried in turn (with --udp, once, at start).", valueName: "host:port"))
    var upstream: String

    @Option(help: ArgumentHelp("Name of this proxy in logs and events.", valueName: "name"))
    var name: String = "proxy"

    @Option(help: ArgumentHelp("How long open connections may finish after SIGINT, SIGTERM or SIGHUP; a second signal ends it.", valueName: "duration"))
    var grace: DurationArgument = DurationArgument(.seconds(5))

    @Option(help: ArgumentHelp("How long dialling the upstream may take.", valueName: "duration"))
    var connectTimeout: DurationArgument = DurationArgument(.seconds(5))

    @Option(help: ArgumentHelp("Write the event log (JSON Lines, faultline-events(5)) to this file.", valueName: "file"))
    var log: String?

    @Option(help: ArgumentHelp("Write a pcap capture of both legs of every connection to this file.", valueName: "file"))
    var pcap: String?

    @Option(
        help: ArgumentHelp(
            "Start a new capture file (FILE.1.pcap, FILE.2.pcap...) before one grows beyond this size: 100M, 1G, 64K (the least).",
            valueName: "size"
        )
    )
    var pcapMaxSize: ByteSizeArgument?

    @Option(
        help: ArgumentHelp(
            "How much captured payload may wait for the capture writer (default 64M); beyond it packets are dropped and the log says how many (capture_dropped).",
            valueName: "size"
        )
    )
    var pcapBuffer: ByteSizeArgument?

    @Option(help: ArgumentHelp("Fault profile: a library name (see 'faultline profile list') or a file.", valueName: "name|file"))
    var profile: String?

    @Option(help: ArgumentHelp("Seed for every fault decision; without it one is chosen and printed.", valueName: "n"))
    var seed: UInt64?

    @OptionGroup(title: "Framing") var framing: FramingOptions

    @Flag(help: "Proxy UDP datagrams instead of TCP connections.")
    var udp = false

    @Option(help: ArgumentHelp("With --udp: close a client's session after this long without a datagram either way.", valueName: "duration"))
    var udpIdleTimeout: DurationArgument = DurationArgument(UDPProxyConfiguration.defaultIdleTimeout)

    @Option(help: ArgumentHelp("With --udp: the most client sessions open at once; new clients beyond it are dropped.", valueName: "count"))
    var udpMaxSessions: Int = UDPProxyConfiguration.defaultMaxSessions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if self.connectTimeout.duration <= .zero {
            throw ValidationError("--connect-timeout must be more than 0: a dial given no time always fails")
        }
        if self.pcapMaxSize != nil, self.pcap == nil {
            throw ValidationError("--pcap-max-size needs --pcap FILE")
        }
        // Below one full packet or so a file holds a handful of packets: a trial's 100
        // bytes wrote 920 files for 20 connections.
        if let size = self.pcapMaxSize, size.bytes < 64 * 1024 {
            throw ValidationError("--pcap-max-size \(size): at least 64K (a file must hold packets of up to 64 KiB)")
        }
        if let buffer = self.pcapBuffer {
            guard self.pcap != nil else { throw ValidationError("--pcap-buffer needs --pcap FILE") }
            guard buffer.bytes <= Int64(Int32.max) else { throw ValidationError("--pcap-buffer \(buffer): at most 2G") }
        }
    }

    func run() async throws {
        let spec = try self.spec()
        self.logging.bootstrap()
        let logger = Logger(label: "faultline.proxy")
        OpenFileLimit.raiseToHardLimit()
        let signals = TerminationSignals()
        let proxy = try await ProxyHost.start(spec, logger: logger)
        Output.line("listening on \(proxy.address)")
        if let signal = await signals.next() {
            logger.info("stopping", metadata: ["signal": "\(TerminationSignals.name(signal))", "open": "\(proxy.open)"])
        }
        // A second signal during the grace ends it: what is still open closes now, and
        // the log and capture are flushed all the same.
        let hurry = Task {
            guard let signal = await signals.next() else { return }
            logger.notice("second signal: ending the grace now", metadata: ["signal": "\(TerminationSignals.name(signal))", "open": "\(proxy.open)"])
            proxy.endGrace()
        }
        defer { hurry.cancel() }
        try await proxy.stop(grace: self.grace.duration)
    }

    /// What the flags describe, with the profile loaded and the framing resolved.
    func spec() throws -> ProxySpec {
        if self.udp {
            guard self.udpMaxSessions >= 1 else {
                throw ValidationError("--udp-max-sessions must be at least 1, got \(self.udpMaxSessions)")
            }
            guard self.udpIdleTimeout.duration > .zero else {
                throw ValidationError("--udp-idle-timeout must be above zero")
            }
        }
        let profile = try self.profile.map { try ProfileLoader.fromEnvironment().load($0) }
        return ProxySpec(
            name: self.name,
            transport: self.udp ? .udp : .tcp,
            listen: try HostPort(parsing: self.listen, what: "--listen"),
            upstream: try HostPort(parsing: self.upstream, what: "--upstream"),
            profile: profile,
            seed: self.seed,
            framing: self.udp ? .raw : try self.framing.configuration(profileFraming: profile?.framing),
            connectTimeout: self.connectTimeout.duration,
            udpIdleTimeout: self.udpIdleTimeout.duration,
            udpMaxSessions: self.udpMaxSessions,
            records: ProxyRecords.Paths(
                log: self.log, pcap: self.pcap, pcapMaxSize: self.pcapMaxSize?.bytes, pcapBuffer: self.pcapBuffer.map { Int($0.bytes) }
            )
        )
    }
}
