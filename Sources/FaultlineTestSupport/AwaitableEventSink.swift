import FaultlineCore
import Foundation
import Synchronization

/// Keeps events in memory and lets a test await one: "the session closed" is awaited
/// as its `conn_close` event, never guessed with a sleep.
package final class AwaitableEventSink: EventSink {
    private struct Waiter {
        var id: UUID
        var matches: @Sendable (Event) -> Bool
        var continuation: CheckedContinuation<Event, any Error>
    }

    private struct State {
        var events: [Event] = []
        var waiters: [Waiter] = []
    }

    private let state = Mutex(State())

    package init() {}

    /// With `FAULTLINE_TEST_TRACE` set, errors a test's proxy logs go to standard
    /// error as they happen, with the time: in a loaded run, where a test only says
    /// "reset", they say why.
    private static let traces = ProcessInfo.processInfo.environment["FAULTLINE_TEST_TRACE"] != nil

    package func record(_ event: consuming Event) {
        let event = event
        if Self.traces, event.type == .upstreamError || event.type == .acceptFailed {
            var line = Array("trace \(Date()) ".utf8)
            event.appendJSON(to: &line)
            FileHandle.standardError.write(Data(line + [10]))
        }
        let ready = self.state.withLock { state -> [CheckedContinuation<Event, any Error>] in
            state.events.append(event)
            var ready: [CheckedContinuation<Event, any Error>] = []
            state.waiters.removeAll { waiter in
                guard waiter.matches(event) else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        ready.forEach { $0.resume(returning: event) }
    }

    /// Everything recorded so far, in order.
    package var events: [Event] {
        self.state.withLock { $0.events }
    }

    /// The first event, already recorded or still to come, that `matches`. Guard the
    /// await with `withTimeout`: cancelling the wait throws `CancellationError`, so a
    /// timeout ends it instead of hanging the test.
    package func first(where matches: @escaping @Sendable (Event) -> Bool) async throws -> Event {
        let id = UUID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let found = self.state.withLock { state -> Event? in
                    if let event = state.events.first(where: matches) { return event }
                    if Task.isCancelled { return nil }
                    state.waiters.append(Waiter(id: id, matches: matches, continuation: continuation))
                    return nil
                }
                if let found {
                    continuation.resume(returning: found)
                } else if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }
}
