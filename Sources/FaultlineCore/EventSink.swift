import Synchronization

/// Where the engine sends events.
///
/// `record` is called on event loops, so it must never block: a file-backed sink queues
/// and writes elsewhere, and says so with a `log_dropped` event if it falls behind.
public protocol EventSink: Sendable {
    func record(_ event: Event)
    /// False when events go nowhere: the engine then skips building the ones that
    /// cost something to make (per-connection open and close).
    var isRecording: Bool { get }
}

extension EventSink {
    public var isRecording: Bool { true }
}

/// Discards everything: for runs without `--log`.
public struct NullEventSink: EventSink {
    public init() {}
    public func record(_ event: Event) {}
    public var isRecording: Bool { false }
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
