import FaultlineTestSupport
import Foundation
import Pcap
import Testing

/// Faults whose effect a byte comparison cannot see, checked where it shows: in the
/// writes the proxy made (its capture of the client leg, one packet per write, stamped
/// when written) and in its event log.
@Suite(.timeLimit(.minutes(1)))
struct FaultEffectCommandTests {
    /// One TCP segment of a capture: source port, payload size and time (µs).
    struct Segment {
        var sourcePort: Int
        var payload: Int
        var micros: Int64
    }

    /// The TCP segments of a LINKTYPE_RAW IPv4 capture (faultline's own).
    static func segments(_ path: String) throws -> [Segment] {
        let (linkType, packets) = try PcapOfflineReader.readAll(path: path)
        #expect(linkType == .raw)
        return packets.compactMap { packet in
            let bytes = packet.data
            guard bytes.count >= 40, bytes[0] >> 4 == 4, bytes[9] == 6 else { return nil }
            let ip = Int(bytes[0] & 0x0F) * 4
            let total = Int(bytes[2]) << 8 | Int(bytes[3])
            let tcp = Int(bytes[ip + 12] >> 4) * 4
            let port = Int(bytes[ip]) << 8 | Int(bytes[ip + 1])
            return Segment(sourcePort: port, payload: total - ip - tcp, micros: packet.seconds * 1_000_000 + Int64(packet.microseconds))
        }
    }

    /// `slice` really writes in pieces of `size` bytes, `gap` apart: not only every byte
    /// arriving (which passthrough also does).
    @Test func sliceWritesPiecesOfItsSizeItsGapApart() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slice-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let profile = folder.appendingPathComponent("drip.yaml").path
        try """
            faultline: 1
            name: drip
            description: Replies in pieces of three bytes, 20 ms apart.
            rules:
              - name: drip
                match: {direction: downstream}
                fault: {kind: slice, size: 3, gap: 20ms}
            """.write(toFile: profile, atomically: false, encoding: .utf8)
        let capture = folder.appendingPathComponent("legs.pcap").path
        let echo = try await TestServer.echo()
        let proxy = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)", "--profile", profile, "--pcap", capture,
        ])
        let port = try #require(await proxy.listeningPort())
        let payload = "abcdefghijklmnop"
        let ending = try await SocketClient.exchange(port: port, request: payload, finish: true)
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)
        await echo.stop()
        #expect(ending == .eof(payload))

        // The proxy's writes to the client: from its listening port, with data.
        let writes = try Self.segments(capture).filter { $0.sourcePort == port && $0.payload > 0 }
        #expect(writes.map(\.payload) == [3, 3, 3, 3, 3, 1], "write sizes \(writes.map(\.payload))")
        // Pieces are released on a schedule that starts when the reply was read from the
        // upstream: the k-th no earlier than k gaps after that read. Counted from the
        // read, load can only make these longer (1 ms for clock rounding); counted from
        // the first piece, a first piece that load made late (the rest keep their
        // times) once made the next look 8 ms early.
        let read = try #require(try Self.segments(capture).first { $0.sourcePort == echo.port && $0.payload > 0 }).micros
        let since = writes.map { $0.micros - read }
        #expect(since.count == 6, "\(since)")
        for (index, offset) in since.enumerated() {
            #expect(offset >= Int64(index) * 20_000 - 1_000, "piece \(index) written \(offset) µs after the reply was read: \(since)")
        }
    }
}
