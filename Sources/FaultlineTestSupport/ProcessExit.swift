#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Synchronization

/// The end of one child process started with `Spawn`: waited for without burning a
/// core, and signalled only while its pid is still its own.
///
/// A thread of its own blocks in `waitid` for this pid only (never `waitpid(-1)`, which
/// would take other tests' children), so no cooperative-pool thread is held and nothing
/// polls. It waits with `WNOWAIT` first: the child stays a zombie, its pid not reusable,
/// until the status is taken under the same lock `signal` holds, so a late signal can
/// never reach some unrelated process that got the pid.
package final class ProcessExit: Sendable {
    /// How the child ended, in Foundation's terms: the exit code, or the signal number
    /// when a signal ended it.
    package struct Termination: Sendable, Equatable {
        package var status: Int32
        package var signalled: Bool
    }

    package let pid: pid_t
    private let state = Mutex(State())
    private let exited = DispatchSemaphore(value: 0)

    private struct State: ~Copyable {
        var termination: Termination?
        var waiters: [CheckedContinuation<Termination, Never>] = []
    }

    /// Starts waiting for `pid`, a child of this process nobody else waits for.
    package init(pid: pid_t) {
        self.pid = pid
        Thread.detachNewThread { [self] in self.reap() }
    }

    private func reap() {
        var info = siginfo_t()
        while waitid(P_PID, id_t(self.pid), &info, WEXITED | WNOWAIT) != 0, errno == EINTR {}
        let (termination, waiters) = self.state.withLock { state in
            var raw: Int32 = 0
            var taken: pid_t
            repeat { taken = waitpid(self.pid, &raw, 0) } while taken == -1 && errno == EINTR
            // -1 (ECHILD): someone else reaped it; report it as an unknown failure, never hang.
            let termination =
                taken == -1 ? Termination(status: -1, signalled: false)
                : raw & 0x7F == 0 ? Termination(status: (raw >> 8) & 0xFF, signalled: false)
                : Termination(status: raw & 0x7F, signalled: true)
            state.termination = termination
            defer { state.waiters = [] }
            return (termination, state.waiters)
        }
        self.exited.signal()
        for waiter in waiters { waiter.resume(returning: termination) }
    }

    /// Sends signal `number` to the child while it has not been reaped. Never to pid 0 or
    /// below: that would signal a whole process group, the test runner's included.
    package func signal(_ number: Int32) {
        self.state.withLock { state in
            guard state.termination == nil, self.pid > 0 else { return }
            kill(self.pid, number)
        }
    }

    /// How it ended, once it has; nil while it runs.
    package var termination: Termination? {
        self.state.withLock { $0.termination }
    }

    /// Suspends until the child has ended; holds no thread meanwhile.
    package func value() async -> Termination {
        await withCheckedContinuation { continuation in
            let ended: Termination? = self.state.withLock { state in
                if let termination = state.termination { return termination }
                state.waiters.append(continuation)
                return nil
            }
            if let ended { continuation.resume(returning: ended) }
        }
    }

    /// Blocks this thread until the child has ended (any number of callers).
    @discardableResult
    package func wait() -> Termination {
        self.exited.wait()
        self.exited.signal()
        return self.termination!
    }
}
