import FaultlineCore
import Synchronization

/// Keeps events in memory and lets a test await one: "the session closed" is awaited
/// as its `conn_close` event, never guessed with a sleep.
public final class AwaitableEventSink: EventSink {
    private struct Waiter {
        var matches: @Sendable (Event) -> Bool
        var continuation: CheckedContinuation<Event, Never>
    }

    private struct State {
        var events: [Event] = []
        var waiters: [Waiter] = []
    }

    private let state = Mutex(State())

    public init() {}

    public func record(_ event: Event) {
        let ready = self.state.withLock { state -> [CheckedContinuation<Event, Never>] in
            state.events.append(event)
            var ready: [CheckedContinuation<Event, Never>] = []
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
        await withCheckedContinuation { continuation in
            let found = self.state.withLock { state -> Event? in
                if let event = state.events.first(where: matches) { return event }
                state.waiters.append(Waiter(matches: matches, continuation: continuation))
                return nil
            }
            if let found { continuation.resume(returning: found) }
        }
    }
}
