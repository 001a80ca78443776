import ArgumentParser
import FaultlineCore
import FaultlineProxy
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

            On start it prints 'listening on HOST:PORT' on standard output (the real \
            port when --listen asks for port 0). On SIGINT or SIGTERM it stops \
            accepting, lets open connections finish for --grace, closes the rest and \
            exits 0.

            With --udp it proxies datagrams instead: each client address gets its own \
            upstream socket (so replies go back to the right client), opened by its \
            first datagram and closed after --udp-idle-timeout without traffic. At \
            most --udp-max-sessions are open at once; datagrams from new clients \
            beyond that are dropped and the first time it happens a warning says so. \
            --grace and --connect-timeout do not apply to UDP.
            """
    )

    @Option(help: ArgumentHelp("Address to accept clients on; port 0 picks a free port.", valueName: "host:port"))
    var listen: String

    @Option(help: ArgumentHelp("Address of the real service.", valueName: "host:port"))
    var upstream: String

    @Option(help: ArgumentHelp("Name of this proxy in logs and events.", valueName: "name"))
    var name: String = "proxy"

    @Option(help: ArgumentHelp("How long open connections may finish after SIGINT or SIGTERM.", valueName: "duration"))
    var grace: DurationArgument = DurationArgument(.seconds(5))

    @Option(help: ArgumentHelp("How long dialling the upstream may take.", valueName: "duration"))
    var connectTimeout: DurationArgument = DurationArgument(.seconds(5))

    @Flag(help: "Proxy UDP datagrams instead of TCP connections.")
    var udp = false

    @Option(help: ArgumentHelp("With --udp: close a client's session after this long without a datagram either way.", valueName: "duration"))
    var udpIdleTimeout: DurationArgument = DurationArgument(UDPProxyConfiguration.defaultIdleTimeout)

    @Option(help: ArgumentHelp("With --udp: the most client sessions open at once; new clients beyond it are dropped.", valueName: "count"))
    var udpMaxSessions: Int = UDPProxyConfiguration.defaultMaxSessions

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        if self.udp {
            try await self.runUDP()
            return
        }
        let configuration = TCPProxyConfiguration(
            name: self.name,
            listen: try HostPort(parsing: self.listen, what: "--listen"),
            upstream: try HostPort(parsing: self.upstream, what: "--upstream"),
            connectTimeout: .nanoseconds(self.connectTimeout.duration.nanoseconds)
        )
        self.logging.bootstrap()
        let logger = Logger(label: "faultline.proxy")
        OpenFileLimit.raiseToHardLimit()
        let signals = TerminationSignals()
        let proxy = TCPProxy(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let bound = try await proxy.start()
        Output.line("listening on \(bound.hostPortText)")
        if let signal = await signals.next() {
            logger.info(
                "stopping",
                metadata: ["signal": "\(TerminationSignals.name(signal))", "open": "\(proxy.openConnections)"]
            )
        }
        await proxy.shutdown(grace: .nanoseconds(self.grace.duration.nanoseconds))
    }
}
