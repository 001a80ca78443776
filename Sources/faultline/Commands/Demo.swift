import ArgumentParser
import FaultlineCore
import FaultlineProxy
import Logging
import NIOCore
import NIOPosix

/// `faultline demo`: the pipeline on embedded services, with nothing to set up.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show faultline at work on an embedded sample service.",
        discussion: """
            Starts an echo service and a proxy in front of it, both on free loopback \
            ports, sends a few messages through the proxy, checks each reply is byte \
            for byte what was sent, and stops. Needs no setup and no network.
            """
    )

    func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let service = try await EchoService.start(group: group)
        let upstream = HostPort(host: "127.0.0.1", port: service.address.port ?? 0)
        let proxy = TCPProxy(
            configuration: TCPProxyConfiguration(
                name: "demo",
                listen: HostPort(host: "127.0.0.1", port: 0),
                upstream: upstream
            ),
            group: group,
            logger: Logger(label: "faultline.demo", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let bound = try await proxy.start()
        Output.line("echo service on \(upstream)")
        Output.line("proxy listening on \(bound.hostPortText), forwarding to \(upstream)")

        let client = try await ClientBootstrap(group: group)
            .connect(to: bound) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let messages = ["hello through faultline", "a second message", "bytes arrive exactly as sent"]
        var allEqual = true
        try await client.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()
            for message in messages {
                try await outbound.write(ByteBuffer(string: message + "\n"))
                var received = ByteBuffer()
                while received.readableBytes < message.utf8.count + 1, var chunk = try await replies.next() {
                    received.writeBuffer(&chunk)
                }
                let reply = String(buffer: received).trimmingCharacters(in: "\n")
                let same = reply == message
                allEqual = allEqual && same
                Output.line("  sent \"\(message)\"  ->  got \"\(reply)\"  \(same ? "(byte-exact)" : "(MISMATCH)")")
            }
        }
        await proxy.shutdown(grace: .seconds(1))
        await service.stop()
        Output.line(allEqual ? "demo finished: every reply matched" : "demo finished: replies differed")
        if !allEqual { throw ExitCode(ExitStatus.runtime) }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var text = self
        while text.last == set { text.removeLast() }
        return text
    }
}
