import Synchronization

/// Where the engine sends events.
///
/// `record` is called on event loops, so it must never block: a file-backed sink queues
/// and writes elsewhere, and says so with a `log_dropped` event if it falls behind.
public protocol EventSink: Sendable {
    func record(_ event: Event)
}

/// Discards everything: for runs without `--log`.
public struct NullEventSink: EventSink {
    public init() {}
    public func record(_ event: Event) {}
}

/// Keeps events in memory, in arrival order: for tests and for the checker's own runs.
public final class MemoryEventSink: EventSink {
    private let storage = Mutex<[Event]>([])

    public init() {}

    public func record(_ event: Event) {
        self.storage.withLock { $0.append(event) }
    }

    /// A copy of everything recorded so far.
    public var events: [Event] {
        self.storage.withLock { $0 }
    }
}
