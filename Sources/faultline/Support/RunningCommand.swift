import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The command `faultline run` started: signals to it while it runs, and its exit.
///
/// A signal goes to the command's process group when it leads one (`ownGroup`), else
/// to the command alone, and only while the command has not been reaped: its exit is
/// seen first with `waitid(WNOWAIT)`, marked under the lock, and only then reaped, so a
/// signal sent late (the timeout's, one passed on) never reaches a process that took
/// the pid over.
final class RunningCommand: Sendable {
    /// How the command ended: an exit code, or 128+N when signal N ended it, as shells
    /// report it.
    struct Exit: Sendable {
        var code: Int32
        var signal: Int32?
    }

    let pid: pid_t
    /// Whether the command leads a process group of its own (its pid is the group's id).
    let ownGroup: Bool
    private let reaped = Mutex(false)

    init(pid: pid_t, ownGroup: Bool) {
        self.pid = pid
        self.ownGroup = ownGroup
    }

    /// Sends `number` to the command's process group, or to the command alone when it has
    /// none. Returns false, sending nothing, once the command has exited; true while it
    /// runs, even when the signal could not be sent (a command that became another
    /// user's), so a caller never takes a running command for an ended one.
    @discardableResult
    func signal(_ number: Int32) -> Bool {
        self.reaped.withLock { reaped in
            guard !reaped, self.pid > 0 else { return false }
            kill(self.ownGroup ? -self.pid : self.pid, number)
            return true
        }
    }

    /// Waits for the command on a thread of its own (waitid blocks); call it once.
    func waitForExit() async -> Exit {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var info = siginfo_t()
                while waitid(P_PID, id_t(self.pid), &info, WEXITED | WNOWAIT) != 0, errno == EINTR {}
                let raw = self.reaped.withLock { reaped in
                    reaped = true
                    var raw: Int32 = 0
                    while waitpid(self.pid, &raw, 0) == -1, errno == EINTR {}
                    return raw
                }
                let signal = raw & 0x7F
                continuation.resume(returning: signal == 0 ? Exit(code: (raw >> 8) & 0xFF) : Exit(code: 128 + signal, signal: signal))
            }
        }
    }
}
