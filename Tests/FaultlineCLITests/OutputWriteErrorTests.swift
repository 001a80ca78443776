#if canImport(Glibc)
import Glibc
#endif
import FaultlineTestSupport
import Foundation
import Testing

/// Output that cannot be written in full fails the command (exit 3) naming the file and
/// the reason; it never says "report written". A full disk is made unprivileged with a
/// file size limit (`ulimit -f`, SIGXFSZ ignored so the write fails with EFBIG), and with
/// /dev/full where this machine has it.
@Suite(.timeLimit(.minutes(1)))
struct OutputWriteErrorTests {
    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("write-error-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// A framed log of 40 connections.
    static func log(in folder: URL) throws -> String {
        let time = #""time":"2026-12-06T00:00:00.000Z""#
        var lines = [#"{"v":1,"type":"proxy_start","proxy":"p","seed":7,"framing":"line",\#(time)}"#]
        for conn in 0..<40 {
            lines.append(#"{"v":1,"type":"conn_open","proxy":"p","conn":\#(conn),"mono":\#(conn * 10 + 1),\#(time)}"#)
            lines.append(
                #"{"v":1,"type":"conn_close","proxy":"p","conn":\#(conn),"mono":\#(conn * 10 + 5),"reason":"closed","bytes_from_client":3,"#
                    + #""bytes_to_upstream":3,"bytes_from_upstream":3,"bytes_to_client":3,\#(time)}"#
            )
        }
        let path = folder.appendingPathComponent("run.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `faultline ARGS` allowed no byte in any file (`ulimit -f 0`), standard output to `stdout`.
    static func limited(_ arguments: [String], stdout: String) async throws -> ChildProcess.Result {
        let words = ([FaultlineBinary.url.path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let script = "trap '' XFSZ; ulimit -f 0; exec \(words.joined(separator: " ")) > '\(stdout)'"
        return try await ChildProcess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
    }

    static let commands: [(name: String, arguments: [String], toFile: Bool)] = [
        ("log export -o", ["log", "export", "LOG", "-o", "OUT"], true),
        ("log export > OUT", ["log", "export", "LOG"], false),
        ("log summary > OUT", ["log", "summary", "LOG"], false),
        ("check retries -o", ["check", "retries", "LOG", "-o", "OUT"], true),
        ("check retries --format json > OUT", ["check", "retries", "LOG", "--format", "json"], false),
    ]

    @Test(arguments: commands)
    func aWriteThatFailsMidwayExitsThreeNamingTheFile(name: String, arguments: [String], toFile: Bool) async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = try Self.log(in: folder)
        let out = folder.appendingPathComponent("out").path
        let stdout = toFile ? folder.appendingPathComponent("stdout").path : out
        let result = try await Self.limited(arguments.map { $0 == "LOG" ? log : $0 == "OUT" ? out : $0 }, stdout: stdout)
        #expect(result.status == 3, "\(name): \(result)")
        let said = toFile ? "faultline: -o \(out): cannot write the file: File too large" : "faultline: standard output: cannot write: File too large"
        #expect(result.stderr.contains(said), "\(name): \(result.stderr)")
        #expect(!result.stderr.contains("report written"), "\(name): \(result.stderr)")
    }

    static var hasDevFull: Bool {
        var info = stat()
        return stat("/dev/full", &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR
    }

    @Test(.enabled(if: hasDevFull, "/dev/full is not the full device here"))
    func devFullIsAFullDisk() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = try Self.log(in: folder)
        let result = try await FaultlineBinary.run(["check", "retries", log, "-o", "/dev/full"])
        #expect(result.status == 3, "\(result)")
        #expect(result.stderr.contains("-o /dev/full: cannot write the file: No space left on device"), "\(result.stderr)")
    }

    @Test(arguments: [["check", "retries", "LOG", "-o", "LOG"], ["log", "export", "LOG", "-o", "./LOG"]])
    func anOutputThatIsTheInputIsRefused(arguments: [String]) async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = try Self.log(in: folder)
        let before = try Data(contentsOf: URL(fileURLWithPath: log))
        let result = try await FaultlineBinary.run(arguments.map { $0.replacingOccurrences(of: "LOG", with: log).replacingOccurrences(of: ".//", with: "/") })
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("this reads: it would be written over"), "\(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: log)) == before)
    }
}
