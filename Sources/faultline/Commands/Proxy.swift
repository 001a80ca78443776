import ArgumentParser
import FaultlineCore
import FaultlineFraming
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

            With --framing other than raw, each connection is cut into messages \
            (requests and replies) without changing a byte, and each message is \
            recorded with its protocol facts (HTTP method, path, status, \
            Idempotency-Key; RESP command; a request fingerprint). Bytes that do not \
            parse, a message over a limit, or a message that stays incomplete for \
            --max-hold make that connection's direction carry raw from there on, and a \
            framing_fallback event says why: framing never breaks a connection. An \
            HTTP Upgrade or CONNECT carries the rest of the connection raw too.
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

    @OptionGroup(title: "Framing") var framing: FramingOptions

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let configuration = TCPProxyConfiguration(
            name: self.name,
            listen: try HostPort(parsing: self.listen, what: "--listen"),
            upstream: try HostPort(parsing: self.upstream, what: "--upstream"),
            connectTimeout: .nanoseconds(self.connectTimeout.duration.nanoseconds),
            framing: try self.framing.configuration()
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
