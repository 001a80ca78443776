import FaultlineTestSupport
import Foundation
import Testing

/// Hostile files given to the real binary: each is refused quickly (exit 2) with a
/// message naming the file and where, and the process's own peak memory (wait4's
/// `ru_maxrss`) stays bounded whatever the file's size. docs/robustness.md records the
/// numbers, and the 1 GiB trials the suite is too quick for.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct HostileFileTests {
    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Writes `head`, then `filler` repeated to `size` bytes, then `tail`, without holding
    /// it all in memory.
    static func write(_ path: String, head: String, filler: UInt8, size: Int, tail: String = "") throws {
        FileManager.default.createFile(atPath: path, contents: Data(head.utf8))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        let block = Data(repeating: filler, count: 1 << 20)
        var left = size
        while left > 0 {
            let piece = min(left, block.count)
            try handle.write(contentsOf: block.prefix(piece))
            left -= piece
        }
        try handle.write(contentsOf: Data(tail.utf8))
    }

    static func billionLaughs(levels: Int) -> String {
        var text = "faultline: 1\nname: laughs\ndescription: An alias bomb.\n"
        text += "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...levels {
            text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        // As mapping keys, composing would hash every expanded node.
        return text + "rules: {? *a\(levels) : 1, ? *a\(levels - 1) : 2}\n"
    }

    /// (name, profile text, words the error contains).
    static let hostileProfiles: [(String, String, String)] = [
        ("billion laughs", billionLaughs(levels: 9), "alias"),
        // Long without an alias: said as long, not as a possible alias bomb.
        ("110,000 plain values", "faultline: 1\nrules: [" + Array(repeating: "x", count: 110_000).joined(separator: ", ") + "]\n",
         "more than 100000 values; a profile needs no more than a few hundred"),
        ("nested flow lists", "faultline: 1\nrules: " + String(repeating: "[", count: 100_000) + "\n", "nest"),
        ("nested block lists", "faultline: 1\nrules:\n" + String(repeating: "- ", count: 50_000) + "x\n", "nest"),
        ("nested flow mappings", "faultline: 1\nrules: " + String(repeating: "{a: ", count: 10_000) + "\n", "nest"),
    ]

    @Test(arguments: hostileProfiles)
    func hostileProfileIsRefusedQuicklyInBoundedMemory(name: String, text: String, words: String) async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("hostile.yaml").path
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let result = try await MeasuredRun.run(FaultlineBinary.url, ["profile", "validate", path])
        #expect(result.status == 2, "\(name): \(result.stderr)")
        #expect(result.stderr.contains("hostile.yaml:") && result.stderr.contains(words), "\(name): \(result.stderr)")
        #expect(result.cpuSeconds < 5 || !Sanitized.boundsApply, "\(name): took \(result.cpuSeconds) s of CPU")
        #expect(result.peakKiB < 96 * 1024 || !Sanitized.boundsApply, "\(name): peak \(result.peakKiB) KiB")
        print("hostile: profile \(name): exit \(result.status) in \(result.seconds) s, peak \(result.peakKiB) KiB")
    }

    /// A run file and a checker's rules file are YAML too, bounded as profiles are: the
    /// alias bomb hung `run --config` (composing never ended) before.
    @Test(arguments: [
        (["run", "--config", "hostile.yaml", "--", "true"], "proxies", "a run file"),
        (["check", "retries", "missing.jsonl", "--rules", "hostile.yaml"], "rules", "a rules file"),
    ])
    func otherYAMLFilesAreBoundedToo(arguments: [String], key: String, kind: String) async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("hostile.yaml").path
        let bomb = Self.billionLaughs(levels: 9).replacingOccurrences(of: "\nrules: {", with: "\n\(key): {")
        try bomb.write(toFile: path, atomically: false, encoding: .utf8)
        let result = try await MeasuredRun.run(FaultlineBinary.url, arguments.map { $0 == "hostile.yaml" ? path : $0 })
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("hostile.yaml:") && result.stderr.contains("(a YAML alias bomb?); \(kind) needs"), "\(result.stderr)")
        #expect(result.cpuSeconds < 5 || !Sanitized.boundsApply, "took \(result.cpuSeconds) s of CPU")
    }

    /// A profile file far larger than any profile (256 MiB here; 1 GiB by hand, see
    /// docs/robustness.md), and one that never ends: refused after reading 1 MiB.
    @Test(arguments: ["file", "extends /dev/zero"])
    func hugeProfileIsRefusedWithoutReadingItWhole(kind: String) async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("huge.yaml").path
        if kind == "file" {
            try Self.write(path, head: "faultline: 1\nname: huge\ndescription: ", filler: UInt8(ascii: "x"), size: 256 << 20, tail: "\n")
        } else {
            try "faultline: 1\nname: z\ndescription: Reads forever.\nextends: /dev/zero\n".write(toFile: path, atomically: false, encoding: .utf8)
        }
        let result = try await MeasuredRun.run(FaultlineBinary.url, ["profile", "validate", path])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("larger than 1 MiB"), "\(result.stderr)")
        #expect(result.cpuSeconds < 5 || !Sanitized.boundsApply, "took \(result.cpuSeconds) s of CPU")
        #expect(result.peakKiB < 96 * 1024 || !Sanitized.boundsApply, "peak \(result.peakKiB) KiB")
        print("hostile: profile \(kind): exit \(result.status) in \(result.seconds) s, peak \(result.peakKiB) KiB")
    }

    /// An event log with a 256 MiB line (1 GiB by hand): `log summary` and `check
    /// retries` stop at that line with FILE:LINE, holding at most the 64 MiB line limit.
    @Test(arguments: [["log", "summary"], ["check", "retries"]])
    func logWithAHugeLineIsRefusedAtThatLine(command: [String]) async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("huge.jsonl").path
        let first = #"{"v":1,"type":"conn_open","proxy":"p","conn":0,"mono":1,"time":"2026-12-06T00:00:00.000Z"}"# + "\n"
        try Self.write(path, head: first + #"{"v":1,"type":"message","note":""#, filler: UInt8(ascii: "x"), size: 256 << 20, tail: "\"}\n")
        let result = try await MeasuredRun.run(FaultlineBinary.url, command + [path])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("huge.jsonl:2") && result.stderr.contains("longer than 64 MiB"), "\(result.stderr)")
        #expect(result.cpuSeconds < 10 || !Sanitized.boundsApply, "took \(result.cpuSeconds) s of CPU")
        #expect(result.peakKiB < 160 * 1024 || !Sanitized.boundsApply, "peak \(result.peakKiB) KiB")
        print("hostile: log with a 256 MiB line, \(command.joined(separator: " ")): exit \(result.status) in \(result.seconds) s, peak \(result.peakKiB) KiB")
    }
}
