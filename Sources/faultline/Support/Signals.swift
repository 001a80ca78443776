import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Waits for SIGINT, SIGTERM or SIGHUP without letting any of them kill the process, so
/// a run can drain connections and flush its records first. SIGHUP (the terminal was
/// closed, or the session leader died) is a request to stop like the other two: left at
/// its default it ended the process at once, logs unflushed.
///
/// Every signal is kept until `next()` takes it, and a waiter that is cancelled takes
/// none, so a second signal (the one that cuts a grace short) is never lost to a
/// cancelled wait.
///
/// `@unchecked`: the sources are set once in `init` and only kept alive after that.
final class TerminationSignals: @unchecked Sendable {
    /// The signals that ask faultline to stop.
    static let stopping: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    private struct State {
        var pending: [Int32] = []
        var waiters: [(id: Int, continuation: CheckedContinuation<Int32?, Never>)] = []
        var nextID = 0
    }

    private var sources: [any DispatchSourceSignal] = []
    private let state = Mutex(State())

    /// Returns once every source is registered: a signal ignored before its source
    /// listens is lost (a SIGHUP sent just after `run` started its command was).
    init(_ signals: [Int32] = TerminationSignals.stopping) {
        let registered = DispatchGroup()
        self.sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.deliver(number) }
            registered.enter()
            source.setRegistrationHandler { registered.leave() }
            source.resume()
            return source
        }
        registered.wait()
    }

    private func deliver(_ number: Int32) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Int32?, Never>? in
            guard !state.waiters.isEmpty else {
                state.pending.append(number)
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        waiter?.resume(returning: number)
    }

    /// Returns the next signal that arrives (or one that arrived since the last call);
    /// nil when the waiting task is cancelled.
    func next() async -> Int32? {
        let id = self.state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let taken = self.state.withLock { state -> Int32?? in
                    if !state.pending.isEmpty { return .some(state.pending.removeFirst()) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if let taken { continuation.resume(returning: taken) }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Int32?, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    /// The conventional name (`SIGINT`), for log lines and `run`'s summary.
    static func name(_ number: Int32) -> String {
        switch number {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGKILL: "SIGKILL"
        case SIGHUP: "SIGHUP"
        case SIGQUIT: "SIGQUIT"
        default: "signal \(number)"
        }
    }
}
