import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import FaultlineProxy

/// Two channels on one embedded loop, bridged as the proxy bridges a connection.
struct BackpressureTests {
    @Test func readingStopsWhileThePartnerIsNotWritableAndResumesAfter() throws {
        let loop = EmbeddedEventLoop()
        let client = EmbeddedChannel(loop: loop)
        let upstream = EmbeddedChannel(loop: loop)
        let counter = EventCounterHandler()
        let (clientSide, upstreamSide) = BridgeHandler.matchedPair()
        try client.pipeline.syncOperations.addHandler(counter)
        try client.pipeline.syncOperations.addHandler(clientSide)
        try upstream.pipeline.syncOperations.addHandler(upstreamSide)

        client.read()
        #expect(counter.readCalls == 1)

        upstream.isWritable = false
        upstream.pipeline.fireChannelWritabilityChanged()
        client.read()
        #expect(counter.readCalls == 1, "no read while the upstream cannot take more")

        upstream.isWritable = true
        upstream.pipeline.fireChannelWritabilityChanged()
        #expect(counter.readCalls == 2, "the held read happens once the upstream drains")

        try client.writeInbound(ByteBuffer(string: "payload"))
        #expect(try upstream.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "payload"))
    }

    @Test func bothDirectionsAreGatedIndependently() throws {
        let loop = EmbeddedEventLoop()
        let client = EmbeddedChannel(loop: loop)
        let upstream = EmbeddedChannel(loop: loop)
        let counter = EventCounterHandler()
        let (clientSide, upstreamSide) = BridgeHandler.matchedPair()
        try client.pipeline.syncOperations.addHandler(clientSide)
        try upstream.pipeline.syncOperations.addHandler(counter)
        try upstream.pipeline.syncOperations.addHandler(upstreamSide)

        client.isWritable = false
        client.pipeline.fireChannelWritabilityChanged()
        upstream.read()
        #expect(counter.readCalls == 0, "a slow client stops reads from the upstream")

        client.isWritable = true
        client.pipeline.fireChannelWritabilityChanged()
        #expect(counter.readCalls == 1)

        try upstream.writeInbound(ByteBuffer(string: "reply"))
        #expect(try client.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "reply"))
    }
}
