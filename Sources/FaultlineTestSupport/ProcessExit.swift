import Dispatch
import Foundation

/// Waits for a child process to end without burning a core.
///
/// Foundation's `Process.waitUntilExit()` on Linux runs the current run loop in 50 ms
/// slices; on a thread whose run loop has no sources each slice returns at once, so the
/// wait spins at 100 % CPU. A suite that awaits several children at once then starves
/// its own timing-sensitive tests on a 2-core machine. This waits on the process's
/// termination handler instead: set it up (`ProcessExit(process)`) before `run()`.
package final class ProcessExit: @unchecked Sendable {
    private let exited = DispatchSemaphore(value: 0)

    /// Installs the termination handler; call before `process.run()`.
    package init(_ process: Process) {
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
    }

    /// Blocks this thread until the process has ended (any number of callers).
    package func wait() {
        self.exited.wait()
        self.exited.signal()
    }

    /// Blocks at most `timeout`; false when the process is still running.
    package func wait(timeout: DispatchTime) -> Bool {
        guard self.exited.wait(timeout: timeout) == .success else { return false }
        self.exited.signal()
        return true
    }

    /// Suspends until the process has ended, blocking a dispatch thread, not a core.
    package func value() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.wait()
                continuation.resume()
            }
        }
    }
}
