#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Runs a command to completion and measures it as the kernel does: its own peak
/// resident memory, the wall time it took, and the CPU time it used (which, unlike the
/// wall time, a loaded machine does not stretch: bounds belong on it).
///
/// The peak comes from GNU time (`/usr/bin/time -f %M`), which forks the command from
/// its own small process. Spawned straight from the test process, the command's
/// `ru_maxrss` would start at the test process's own peak: glibc's `posix_spawn` runs
/// the child on the parent's memory until `exec`, and the kernel carries that high-water
/// mark across the `exec` (a full parallel run peaked at 219 MiB, and every command
/// measured "used" that much).
package enum MeasuredRun {
    package struct Result: Sendable {
        package var status: Int32
        package var stdout: String
        package var stderr: String
        /// Peak resident set, KiB.
        package var peakKiB: Int
        package var seconds: Double
        /// User and system CPU time of the command (and GNU time, a sliver).
        package var cpuSeconds: Double
    }

    /// `run` on a thread of its own, so the wait never holds one of the cooperative
    /// pool's few threads (other tests' servers need them).
    package static func run(_ executable: URL, _ arguments: [String]) async throws -> Result {
        try await onOwnThread { try Self.blockingRun(executable, arguments) }
    }

    /// Runs `executable ARGS...` with standard output and error sent to files (no pipe
    /// can fill), waits for it, and reads them back.
    package static func blockingRun(_ executable: URL, _ arguments: [String]) throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("measured-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let outPath = folder.appendingPathComponent("out").path, errPath = folder.appendingPathComponent("err").path

        let peakPath = folder.appendingPathComponent("peak").path
        let out = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            if out >= 0 { close(out) }
            if err >= 0 { close(err) }
        }
        guard out > STDERR_FILENO, err > STDERR_FILENO else { throw SocketError(call: "open \(folder.path)", code: errno) }
        let start = ContinuousClock.now
        let pid = try Spawn.start("/usr/bin/time", ["-f", "%M", "-o", peakPath, executable.path] + arguments, output: out, error: err)
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw SocketError(call: "wait4", code: errno) }
        }
        let elapsed = ContinuousClock.now - start
        let exitStatus: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return Result(
            status: exitStatus,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
            peakKiB: Self.peak(in: peakPath) ?? Int(usage.ru_maxrss),
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            cpuSeconds: Self.seconds(usage.ru_utime) + Self.seconds(usage.ru_stime)
        )
    }

    private static func seconds(_ time: timeval) -> Double {
        Double(time.tv_sec) + Double(time.tv_usec) / 1e6
    }

    /// The last number GNU time wrote (it says "Command exited with non-zero status N"
    /// first when the command failed).
    private static func peak(in path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return text.split(whereSeparator: \.isNewline).last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }
}
