import FaultlineRecords
import FaultlineTestSupport
import Foundation
import NIOCore
import Pcap
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Live capture through libpcap on the loopback interface. Needs root (CI runs as
/// root); elsewhere the failure must be the clear permission error.
@Suite(.timeLimit(.minutes(1)))
struct LiveCaptureTests {
    @Test func seesAConnectionMadeDuringTheCapture() async throws {
        let server = try await TestServer.echo()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("live.pcap")
        let capture: PcapLiveCapture
        do {
            capture = try PcapLiveCapture(interface: "lo", filter: "tcp port \(server.port)")
        } catch let error as PcapError where error.kind == .permissionDenied && geteuid() != 0 {
            // Not root: the one thing to check is that the refusal says what is missing.
            #expect(error.message.contains("CAP_NET_RAW"))
            await server.stop()
            return
        }
        let (progress, progressContinuation) = AsyncStream<PcapLiveCapture.Progress>.makeStream()
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? capture.run(writingTo: path) { progressContinuation.yield($0) }
            progressContinuation.finish()
            finished.signal()
        }

        let message = ByteBuffer(string: "seen on the wire")
        let client = try await TestClient.connect(port: server.port)
        let echoed = try await client.executeThenClose { inbound, outbound in
            try await outbound.write(message)
            outbound.finish()
            return try await TestClient.readAll(inbound)
        }
        #expect(echoed == message)

        // Await the capture catching up: the file is flushed before each progress report.
        var found: TCPStream?
        for await _ in progress {
            let streams = (try? TCPStreamReassembler.streams(fromCaptureAt: path)) ?? []
            if let stream = streams.first(where: { Int($0.server.port) == server.port && $0.clientFIN && $0.serverFIN }) {
                found = stream
                break
            }
        }
        capture.stop()
        finished.wait()
        await server.stop()

        let stream = try #require(found)
        #expect(stream.sawSYN)
        #expect(stream.clientToServer == Array("seen on the wire".utf8))
        #expect(stream.serverToClient == Array("seen on the wire".utf8))
        #expect(capture.progress.packets >= 5)  // at least SYN, SYN-ACK, ACK, data, FIN
    }

    @Test func aBadFilterIsRejectedWithLibpcapsMessage() {
        let error = #expect(throws: PcapError.self) {
            try PcapLiveCapture.validate(filter: "tcp port banana")
        }
        #expect(error?.kind == .badFilter)
        #expect(error?.message.hasPrefix("bad capture filter 'tcp port banana': ") == true)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: without it, activation fails on permission before the interface is looked up"))
    func anUnknownInterfaceIsNamed() throws {
        let error = #expect(throws: PcapError.self) {
            _ = try PcapLiveCapture(interface: "nosuchif0", filter: nil)
        }
        #expect(error?.kind == .noSuchDevice)
        #expect(error?.message.contains("nosuchif0") == true)
    }
}
