import FaultlineRecords
import Foundation
import NIOCore
import NIOEmbedded
import Pcap
import Testing

@testable import FaultlineProxy

/// The tap on its own, on an `EmbeddedChannel`: what it writes to the capture for each
/// pipeline event, read back packet by packet.
@Suite struct WireTapTests {
    static func capturePath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("wiretap-\(UUID().uuidString).pcap").path
    }

    /// A dialled channel: writes issued while it connects follow the handshake; then a
    /// reply, the peer's FIN, our FIN. Sequence numbers run on without gaps.
    @Test func dialledChannelRecordsHandshakeEarlyWritesAndEndings() throws {
        let path = Self.capturePath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let capture = try PacketCapture(path: path)
        let channel = EmbeddedChannel(handler: WireTap(capture: capture, role: .dialled))
        channel.localAddress = try SocketAddress(ipAddress: "127.0.0.1", port: 40000)
        let upstream = try SocketAddress(ipAddress: "127.0.0.1", port: 6379)

        try channel.writeOutbound(ByteBuffer(string: "early"))  // before the connection is up
        try channel.connect(to: upstream).wait()
        try channel.writeOutbound(ByteBuffer(string: " request"))
        try channel.writeInbound(ByteBuffer(string: "reply"))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        _ = try? channel.finish()
        try capture.close()

        let streams = try TCPStreamReassembler.streams(fromCaptureAt: path)
        let stream = try #require(streams.first)
        #expect(streams.count == 1)
        #expect(stream.client.description == "127.0.0.1:40000" && stream.server.description == "127.0.0.1:6379")
        #expect(String(decoding: stream.clientToServer, as: UTF8.self) == "early request")
        #expect(String(decoding: stream.serverToClient, as: UTF8.self) == "reply")
        #expect(stream.sawSYN && stream.serverFIN && stream.clientFIN && !stream.reset && stream.missingBytes == 0)

        // SYN, SYN-ACK, ACK, then each data segment acknowledged, then the FINs.
        let (_, packets) = try PcapOfflineReader.readAll(path: path)
        let flags = packets.map { $0.data[33] }  // TCP flags byte: 20 (IP) + 13
        #expect(Array(flags.prefix(3)) == [0x02, 0x12, 0x10])
        #expect(flags.filter { $0 & 0x01 != 0 }.count == 2)  // one FIN each way
    }

    /// `resetAndClose()` announces itself: the capture shows our RST, not a FIN.
    @Test func resetRequestBecomesRST() throws {
        let path = Self.capturePath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let capture = try PacketCapture(path: path)
        let channel = EmbeddedChannel(handler: WireTap(capture: capture, role: .accepted))
        channel.localAddress = try SocketAddress(ipAddress: "127.0.0.1", port: 7000)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 50000)).wait()
        try channel.writeInbound(ByteBuffer(string: "hi"))
        channel.pipeline.triggerUserOutboundEvent(WireTap.ResetRequested(), promise: nil)
        _ = try? channel.finish()
        try capture.close()
        let stream = try #require(try TCPStreamReassembler.streams(fromCaptureAt: path).first)
        #expect(stream.client.description == "127.0.0.1:50000")
        #expect(stream.reset && !stream.serverFIN)
        #expect(stream.clientToServer == Array("hi".utf8))
    }
}
