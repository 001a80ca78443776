import FaultlineTestSupport
import Foundation
import Testing

/// Options that name one file twice are refused (exit 2) before anything is written:
/// a capture over the event log, a report or an export over the log it reads.
@Suite(.timeLimit(.minutes(1)))
struct SameFileOptionTests {
    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("same-file-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
        return folder
    }

    /// The log's second spelling: the same text, through `..`, or (the file made
    /// first) a symbolic link.
    static let spellings = ["same", "dotdot", "symlink"]

    @Test(arguments: spellings)
    func proxyRefusesALogAndACaptureInOneFile(spelling: String) async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("run.out").path
        let kept = #"{"v":1,"type":"proxy_start","proxy":"earlier","time":"2026-12-06T00:00:00.000Z"}"# + "\n"
        try kept.write(toFile: log, atomically: true, encoding: .utf8)
        let pcap: String
        switch spelling {
        case "dotdot": pcap = folder.appendingPathComponent("sub/../run.out").path
        case "symlink":
            pcap = folder.appendingPathComponent("sub/link.pcap").path
            try FileManager.default.createSymbolicLink(atPath: pcap, withDestinationPath: log)
        default: pcap = log
        }
        let result = try await FaultlineBinary.run(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--log", log, "--pcap", pcap])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("--log \(log) and --pcap \(pcap) name the same file"), "\(result.stderr)")
        #expect(try String(contentsOfFile: log, encoding: .utf8) == kept, "the log was written over")
    }

    @Test func aLogAndACaptureNotYetMadeAreComparedByTheirFolder() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("new.out").path
        let pcap = folder.appendingPathComponent("sub/../new.out").path
        let result = try await FaultlineBinary.run(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--log", log, "--pcap", pcap])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("name the same file"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: log))
    }
}
