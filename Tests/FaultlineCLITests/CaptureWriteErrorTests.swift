#if canImport(Glibc)
import Glibc
#endif
import FaultlineTestSupport
import Foundation
import Testing

/// A capture file that cannot be written (a full disk) is said on standard error when
/// it happens, and the proxy exits 3 at the end naming the file and the reason; before,
/// it exited 0 with nothing said and a capture cut short. The full disk is a file size
/// limit (`ulimit -f 0`, SIGXFSZ ignored so writes fail with EFBIG): no privileges, and
/// standard output and error stay pipes, which the limit does not touch.
@Suite(.timeLimit(.minutes(1)))
struct CaptureWriteErrorTests {
    @Test func proxyReportsAFailedCaptureAndExitsThree() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("capture-error-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let echo = try SocketEchoServer()
        let pcap = folder.appendingPathComponent("run.pcap").path
        let script = "trap '' XFSZ; ulimit -f 0; exec '\(FaultlineBinary.url.path)' proxy --listen 127.0.0.1:0 --upstream 127.0.0.1:\(echo.port) --pcap '\(pcap)'"
        let proxy = try ChildProcess(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
        let port = try #require(await proxy.listeningPort())
        #expect(try await SocketClient.exchange(port: port, request: "through", finish: true) == .eof("through"))
        let said = try await withTimeout(.seconds(30)) { await proxy.standardError(saying: "capture failed: cannot write capture file \(pcap)") }
        #expect(said, "\(proxy.standardError)")
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 3, "\(proxy.standardError)")
        let stderr = await proxy.completeStandardError()
        #expect(stderr.contains("faultline: cannot write capture file \(pcap): File too large; the file is cut short")
            || stderr.contains("faultline: cannot write capture file \(pcap): a write failed; the file is cut short"), "\(stderr)")
    }
}
