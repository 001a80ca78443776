import FaultlineCore
import Synchronization

/// Keeps events in memory and lets a test await one: "the session closed" is awaited
/// as its `conn_close` event, never guessed with a sleep.
public final class AwaitableEventSink: EventSink {
    private struct Waiter {
        var token: Int
        var matches: @Sendable (Event) -> Bool
        var continuation: CheckedContinuation<Event?, Never>
    }

    private struct State {
        var events: [Event] = []
        var waiters: [Waiter] = []
        var nextToken = 0
        /// Waits cancelled before they were registered.
        var cancelled: Set<Int> = []
    }

    private let state = Mutex(State())

    public init() {}

    public func record(_ event: Event) {
        let ready = self.state.withLock { state -> [CheckedContinuation<Event?, Never>] in
            state.events.append(event)
            var ready: [CheckedContinuation<Event?, Never>] = []
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
    public var events: [Event] {
        self.state.withLock { $0.events }
    }

    /// The first event, already recorded or still to come, that `matches`. Guard the
    /// await with `withTimeout` or a suite time limit.
    public func first(where matches: @escaping @Sendable (Event) -> Bool) async -> Event {
        // Without cancellation the wait only ends with a match.
        await self.firstOrCancelled(where: matches) ?? Event(.logDropped)
    }

    /// The first event that `matches`, or nil once the task is cancelled (so a
    /// `withTimeout` around it fails the test instead of hanging it).
    public func firstOrCancelled(where matches: @escaping @Sendable (Event) -> Bool) async -> Event? {
        let token = self.state.withLock { state -> Int in
            state.nextToken += 1
            return state.nextToken
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let found = self.state.withLock { state -> Event?? in
                    if let event = state.events.first(where: matches) { return .some(event) }
                    if state.cancelled.contains(token) { return .some(nil) }
                    state.waiters.append(Waiter(token: token, matches: matches, continuation: continuation))
                    return .none
                }
                if let found { continuation.resume(returning: found) }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.token == token }) else {
                    state.cancelled.insert(token)
                    return nil
                }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(returning: nil)
        }
    }
}
