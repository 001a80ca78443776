import FaultlineCore
import FaultlineFraming
import NIOCore
import NIOEmbedded
import Testing

@testable import FaultlineProxy

/// A copies' connection that closed lets go of its leg. The leg kept its pipeline
/// context, which holds the leg: the two, with the leg's read buffer and its lane,
/// stayed in memory (about 9 KiB per duplicated request, found churning connections
/// under a `duplicate` rule).
struct DuplicateLegLifetimeTests {
    @Test func aClosedLegIsFreed() throws {
        weak var leg: DuplicateLeg?
        do {
            let framing = FramingConfiguration(kind: .line)
            let lane = DuplicateLane(
                framing: framing,
                dialer: UpstreamDialer(upstream: HostPort(host: "127.0.0.1", port: 1), connectTimeout: .seconds(1)),
                registry: nil
            )
            let made = DuplicateLeg(lane: lane, framing: framing)
            leg = made
            let channel = EmbeddedChannel(handler: made)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            _ = try channel.finish()
        }
        #expect(leg == nil, "the leg outlived its connection")
    }
}
