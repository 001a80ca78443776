#if canImport(Glibc)
import Glibc
#endif

/// Blocking system calls in tests are restarted when a signal interrupts them.
///
/// Test threads block in `read`, `recv`, `send` and `connect` while other tests start
/// and reap child processes; a signal delivered to this process then ends the call with
/// EINTR. That is no error of the code under test, so it must never fail a test (and
/// Foundation's `FileHandle` reads trap on it, which kills the whole run).
@inline(__always)
func restartingOnSignal<Count: BinaryInteger>(_ call: () -> Count) -> Count {
    while true {
        let result = call()
        if result < 0, errno == EINTR { continue }
        return result
    }
}

/// Reads a pipe with read(2), restarting on EINTR, instead of `FileHandle.availableData`.
enum PipeReading {
    /// The next bytes the pipe holds, or nil at its end (or on a read error).
    static func next(_ fd: Int32) -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = restartingOnSignal { chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
        guard count > 0 else { return nil }
        return Array(chunk[0..<count])
    }
}
