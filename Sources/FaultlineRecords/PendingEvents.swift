import FaultlineCore

/// An event waiting for the log's writer, and when it was recorded.
struct PendingEvent {
    var event: Event
    var time: WallTime
}

/// Events waiting for the log's writer, oldest first, in storage the writer moves each
/// one out of. Read out of an array, an event is copied (each of its strings retained,
/// then released once more) and the array destroys the original as well: most of a
/// kilobyte per event, on the writer thread that every logged message passes through.
///
/// Unchecked `Sendable`: it is only ever touched under the log's lock, or by the writer
/// thread once the writer has swapped it out from under that lock.
struct PendingEvents: ~Copyable, @unchecked Sendable {
    private var base: UnsafeMutablePointer<PendingEvent>
    private(set) var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 64) {
        self.capacity = max(1, capacity)
        self.base = .allocate(capacity: self.capacity)
    }

    deinit {
        self.base.deinitialize(count: self.count)
        self.base.deallocate()
    }

    var isEmpty: Bool { self.count == 0 }

    mutating func append(_ pending: consuming PendingEvent) {
        if self.count == self.capacity {
            let grown = UnsafeMutablePointer<PendingEvent>.allocate(capacity: self.capacity * 2)
            grown.moveInitialize(from: self.base, count: self.count)
            self.base.deallocate()
            self.base = grown
            self.capacity *= 2
        }
        (self.base + self.count).initialize(to: pending)
        self.count += 1
    }

    /// Appends an event of `type` built in place by `fill`.
    mutating func append(_ type: Event.Kind, time: WallTime, fill: (inout Event) -> Void) {
        self.append(PendingEvent(event: Event(type), time: time))
        fill(&(self.base + self.count - 1).pointee.event)
    }

    /// Hands each event to `body`, oldest first, and leaves the queue empty; its storage
    /// is kept for the next batch.
    mutating func drain(_ body: (inout PendingEvent) -> Void) {
        for index in 0..<self.count {
            var pending = (self.base + index).move()
            body(&pending)
        }
        self.count = 0
    }
}
