#if canImport(Glibc)
import Glibc
#endif
import FaultlineCore
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import Pcap
import Testing

/// SIGTERM and SIGKILL while connections stream through `faultline proxy --log --pcap`
/// (100 here; 1,000 with `bench/signals.sh`).
@Suite(.serialized, .timeLimit(.minutes(2)))
struct SignalsUnderLoadTests {
    static let connections = 100

    struct NoEcho: Error {}

    /// Connections streaming through the proxy until `close()`: a writer and a reader
    /// thread each, so neither side's buffers stop the stream. `close()` shuts the
    /// sockets down, waits for every thread to leave them, and only then closes them, so
    /// no thread touches a number the kernel has given to another socket.
    ///
    /// Each writer is paced (`block` every `pause`, 400 KB/s a connection): unpaced, a
    /// hundred writers, readers and echo threads took the machine from every test
    /// running beside them, and a loaded run wrote gigabytes of capture.
    final class Streams: Sendable {
        let sockets: SocketSet
        let threads = DispatchGroup()

        /// Opens `count` connections and proves each reaches the echo server (its first
        /// byte comes back), so each is accepted, dialled and in the log, then streams.
        init(port: Int, count: Int) throws {
            self.sockets = try HostileClient.holdOpen(port: port, count: count, bytes: Array("s".utf8))
            for fd in self.sockets.descriptors {
                var byte: UInt8 = 0
                guard recv(fd, &byte, 1, 0) == 1 else {
                    self.sockets.close()
                    throw NoEcho()
                }
            }
            let block = [UInt8](repeating: UInt8(ascii: "x"), count: 4 * 1024)
            for fd in self.sockets.descriptors {
                self.threads.enter()
                Thread.detachNewThread { [threads] in
                    while block.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) > 0 {
                        usleep(Self.pause)
                    }
                    threads.leave()
                }
                self.threads.enter()
                Thread.detachNewThread { [threads] in
                    var sink = [UInt8](repeating: 0, count: 64 * 1024)
                    while sink.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, 0) }) > 0 {}
                    threads.leave()
                }
            }
        }

        /// Microseconds between a writer's blocks.
        static let pause: UInt32 = 10_000

        func close() {
            for fd in self.sockets.descriptors { shutdown(fd, Int32(SHUT_RDWR)) }
            self.threads.wait()
            self.sockets.close()
        }
    }

    static func start(in folder: URL) async throws -> (ChildProcess, Int, SocketEchoServer) {
        let echo = try SocketEchoServer()
        let proxy = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)",
            "--log", folder.appendingPathComponent("run.jsonl").path, "--pcap", folder.appendingPathComponent("run.pcap").path,
            "--grace", "1s",
        ])
        let port = try #require(await proxy.listeningPort())
        return (proxy, port, echo)
    }

    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("signals-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// SIGTERM mid-stream: exit 0, every connection closed in the log with its books
    /// balanced, and the capture readable to its last packet.
    @Test func sigtermWhileStreamingLeavesCompleteRecords() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (proxy, port, echo) = try await Self.start(in: folder)
        let streams = try await onOwnThread { try Streams(port: port, count: Self.connections) }
        proxy.signal(SIGTERM)
        let status = await proxy.exitStatus()
        try await onOwnThread { streams.close() }
        echo.stop()

        #expect(status == 0, "stderr: \(proxy.standardError)")
        let events = try EventLogReader.read(path: folder.appendingPathComponent("run.jsonl").path)
        #expect(events.filter { $0.type == .connectionOpen }.count == Self.connections)
        #expect(events.filter { $0.type == .connectionClose }.count == Self.connections)
        // The stop is the last event but for the records' own reports of falling
        // behind (a capture that could not keep up says how much it left out).
        #expect(events.last { $0.type != .captureDropped && $0.type != .logDropped }?.type == .proxyStop)
        #expect(Accounting.check(events).isEmpty, "\(Accounting.check(events).prefix(3))")
        let moved = events.filter { $0.type == .connectionClose }.compactMap(\.bytesFromClient).reduce(0, +)
        #expect(moved > Self.connections, "the connections were not streaming: \(moved) bytes")
        // Read to the end without an error: no packet cut short.
        let reader = try PcapOfflineReader(path: folder.appendingPathComponent("run.pcap").path)
        var packets = 0
        while try reader.next() != nil { packets += 1 }
        #expect(packets > 2 * Self.connections)
    }

    /// SIGKILL mid-stream: the log holds whole lines up to where it was cut, and the
    /// reader either reads them all (the cut fell between lines) or names the cut line.
    @Test func sigkillWhileStreamingLeavesALogValidUpToItsCut() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (proxy, port, echo) = try await Self.start(in: folder)
        let streams = try await onOwnThread { try Streams(port: port, count: Self.connections) }
        let log = folder.appendingPathComponent("run.jsonl").path
        // The kill must find connections open in the log: wait until the log's writer
        // thread (which a loaded run can hold back) has put an open out.
        let opened = await Result {
            try await waitUntilLogged("conn_open", in: log)
        }
        proxy.signal(SIGKILL)
        _ = await proxy.exitStatus()
        try await onOwnThread { streams.close() }
        echo.stop()
        try opened.get()

        let text = try String(contentsOfFile: log, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        // Every complete line is one JSON object (the last piece is empty, or cut).
        let complete = lines.dropLast()
        #expect(complete.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) is [String: Any] })
        let summary = try await FaultlineBinary.run(["log", "summary", log])
        if text.hasSuffix("\n") {
            // Connections never closed fail the accounting check (exit 1).
            #expect(summary.status == 1, "\(summary.stderr)")
            #expect(summary.stdout.contains("never closed"), "\(summary.stdout)")
        } else {
            #expect(summary.status == 2)
            #expect(summary.stderr.contains("run.jsonl:\(lines.count): the last line is cut off"), "\(summary.stderr)")
        }
    }
}
