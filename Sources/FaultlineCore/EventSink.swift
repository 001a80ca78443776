import Synchronization

/// Where the engine sends events.
///
/// `record` is called on event loops, so it must never block: a file-backed sink queues
/// and writes elsewhere, and says so with a `log_dropped` event if it falls behind.
package protocol EventSink: Sendable {
    /// `consuming`: the sink may keep the event without copying it.
    func record(_ event: consuming Event)
    /// Records an event of `type` that `fill` completes: the same as building it and
    /// calling `record(_:)`, for the events there is one of per message, which a sink
    /// may build where it keeps them rather than copy. `fill` must be quick (it may run
    /// under the sink's lock) and do nothing but set fields.
    func record(_ type: Event.Kind, _ fill: (inout Event) -> Void)
    /// False when events go nowhere: the engine then skips building the ones that
    /// cost something to make (per-connection open and close).
    var isRecording: Bool { get }
}

extension EventSink {
    package var isRecording: Bool { true }

    package func record(_ type: Event.Kind, _ fill: (inout Event) -> Void) {
        var event = Event(type)
        fill(&event)
        self.record(event)
    }
}

/// Discards everything: for runs without `--log`.
package struct NullEventSink: EventSink {
    package init() {}
    package func record(_ event: consuming Event) {}
    package var isRecording: Bool { false }
}

/// Keeps events in memory, in arrival order: for tests and for the checker's own runs.
package final class MemoryEventSink: EventSink {
    private let storage = Mutex<[Event]>([])

    package init() {}

    package func record(_ event: consuming Event) {
        let event = event
        self.storage.withLock { $0.append(event) }
    }

    /// A copy of everything recorded so far.
    package var events: [Event] {
        self.storage.withLock { $0 }
    }
}
