import Dispatch
import FaultlineCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `--log FILE` sink: JSON Lines, one event per line, written by a thread of its own.
///
/// `record` runs on event loops, so all it does is stamp the wall-clock time from the
/// injected clock and append to a bounded queue under a short lock. A writer thread takes
/// the whole queue at once, encodes it and writes it with one `write(2)`:
///
///     event loops ─record─▶ [ queue ≤ capacity ] ─batch─▶ writer thread ─▶ FILE
///                                 │ full
///                                 ▼
///                        count ─▶ {"type":"log_dropped","count":N}, as soon as there is room
///
/// Nothing is ever lost silently: events refused because the queue was full are counted,
/// and the count is written as a `log_dropped` event right after the events that were
/// already queued. Per-unit events (`message`, `fault`, `duplicate_reply`) are refused
/// first; a connection's open and close and the run's own events have a reserve of
/// another `capacity` events, so a log that falls behind under a flood of messages
/// still says how every connection ended. `close()` drains the queue and closes the
/// file, so a run stopped by SIGINT or SIGTERM leaves a complete log. Until `close()`
/// the writer thread keeps the log alive: always close it.
package final class EventLog: EventSink {
    /// The file being written.
    package let path: String
    /// How many per-unit events may wait for the writer before new ones are dropped (and
    /// counted); the others may wait up to twice as many.
    package let capacity: Int
    private let clock: any WallClock
    private let state: Mutex<State>
    /// Signalled when the writer is asleep and work arrives.
    private let wake = DispatchSemaphore(value: 0)
    /// Signalled once, when the writer has closed the file.
    private let finished = DispatchSemaphore(value: 0)

    private struct State: ~Copyable {
        var queue = PendingEvents()
        /// Dropped since the last `log_dropped` was queued.
        var pendingDrops = 0
        var firstDropTime: WallTime?
        var totalDrops = 0
        var written = 0
        var writerSleeping = false
        var closing = false
        var closed = false
        /// The first write the kernel refused (the log is incomplete: `close` throws).
        var writeError: String?
    }

    /// Opens (creates or truncates) `path` and starts the writer thread.
    ///
    /// - Parameters:
    ///   - clock: stamps each event's `time` when it is recorded (events that already
    ///     carry a `time` keep it).
    ///   - capacity: the queue's bound, in events.
    /// - Throws: `EventLogError` (exit 2) when the file cannot be created.
    package convenience init(path: String, clock: any WallClock = SystemWallClock(), capacity: Int = 65_536) throws {
        try self.init(path: path, clock: clock, capacity: capacity, testHooks: nil)
    }

    /// For tests: before each look at the queue the writer waits for a signal on `gate`,
    /// and after taking a batch it signals `taken`, so a test can fill the queue and
    /// interleave with the writer deterministically. `write`, when given, stands in for
    /// `write(2)` (a disk that fills up and frees again).
    struct TestHooks: Sendable {
        var gate: DispatchSemaphore
        var taken: DispatchSemaphore
        var write: (@Sendable (Int32, UnsafeRawPointer, Int) -> Int)? = nil
    }

    private let testHooks: TestHooks?

    /// The most events a queue's storage is kept for between batches: several
    /// milliseconds' worth at 100,000 events/s.
    private static let spareCapacity = 1_024

    /// Microseconds the writer lets a batch gather after writing one.
    private static let batchPause: UInt32 = 1_000

    init(path: String, clock: any WallClock, capacity: Int, testHooks: TestHooks?) throws {
        let descriptor = try Self.openForWriting(path)
        self.path = path
        self.capacity = max(1, capacity)
        self.clock = clock
        self.testHooks = testHooks
        self.state = Mutex(State())
        let writer = Writer(descriptor: descriptor, write: testHooks?.write ?? systemWrite)
        Thread.detachNewThread { [self] in
            self.runWriter(writer)
        }
    }

    /// Opens the log for writing. A FIFO is opened without waiting for a reader: with
    /// none, opening waited for ever, before SIGINT or SIGTERM were handled.
    private static func openForWriting(_ path: String) throws -> Int32 {
        var status = stat()
        let isFIFO = stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (isFIFO ? O_NONBLOCK : 0), 0o644)
        guard descriptor >= 0 else {
            let reason = isFIFO && errno == ENXIO
                ? "a FIFO with no reader: start the reader first" : String(cString: strerror(errno))
            throw EventLogError(file: path, line: nil, message: "cannot write the event log: \(reason)")
        }
        // Writes block as usual once open: the writer thread waits for a slow reader,
        // and the queue in front of it counts what it cannot take.
        if isFIFO { _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK) }
        return descriptor
    }

    // MARK: Called on event loops

    /// Takes `event` over (`consuming`): it moves into the queue without a copy, which
    /// would retain and release each of its strings once more.
    package func record(_ event: consuming Event) {
        var event = Optional(event)
        self.enqueue(event!.type) { queue, now in queue.append(PendingEvent(event: event.take()!, time: now)) }
    }

    /// Builds the event where it waits in the queue: an event built first and handed
    /// over is copied whole on the way (about a thousand instructions, on every
    /// message). Nothing is built when the event would be dropped.
    package func record(_ type: Event.Kind, _ fill: (inout Event) -> Void) {
        self.enqueue(type) { queue, now in queue.append(type, time: now, fill: fill) }
    }

    /// Admits one event of `type` to the queue, where `put` places it, or counts it
    /// dropped when the queue is full or the log closing.
    private func enqueue(_ type: Event.Kind, _ put: (inout PendingEvents, WallTime) -> Void) {
        let now = self.clock.now()
        let perUnit = Self.isPerUnit(type)
        let shouldWake = self.state.withLock { state -> Bool in
            if state.closing {
                state.totalDrops += 1
                return false
            }
            if state.queue.count >= (perUnit ? self.capacity : 2 * self.capacity) {
                if state.pendingDrops == 0 { state.firstDropTime = now }
                state.pendingDrops += 1
                state.totalDrops += 1
                return false
            }
            if state.pendingDrops > 0 {
                // Room again: say what was lost before anything newer.
                state.queue.append(PendingEvent(event: Self.droppedEvent(state.pendingDrops, why: self.fellBehind), time: now))
                state.pendingDrops = 0
            }
            put(&state.queue, now)
            if state.writerSleeping {
                state.writerSleeping = false
                return true
            }
            return false
        }
        if shouldWake { self.wake.signal() }
    }

    /// Events there is one of per chunk, message or copy: when the queue is full these
    /// go first. The rest (a connection's open and close, the run's start, stop and plan
    /// changes, errors) are few, and each says what became of a connection or the run
    /// as a whole, so they may use a second `capacity` before they are dropped too.
    private static func isPerUnit(_ type: Event.Kind) -> Bool {
        type == .message || type == .fault || type == .duplicateReply
    }

    // MARK: Statistics

    /// Events refused because the queue was full (or because the log was closed).
    package var droppedEvents: Int {
        self.state.withLock { $0.totalDrops }
    }

    /// Lines written to the file so far, `log_dropped` lines included.
    package var writtenEvents: Int {
        self.state.withLock { $0.written }
    }

    // MARK: Closing

    /// Writes everything queued, then closes the file. Blocks until done: call it off the
    /// event loops (or use the `async` form). Safe to call more than once.
    ///
    /// - Throws: `RuntimeFailure` (exit 3) if a write failed, naming the file and errno.
    package func close() throws {
        let first = self.state.withLock { state -> Bool in
            defer { state.closing = true }
            if !state.closing, state.writerSleeping {
                state.writerSleeping = false
                return true
            }
            return false
        }
        if first { self.wake.signal() }
        self.finished.wait()
        self.finished.signal()  // let later callers through too
        if let error = self.state.withLock({ $0.writeError }) {
            throw RuntimeFailure("event log \(self.path): \(error)")
        }
    }

    /// `close()` without blocking the caller's thread.
    package func close() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try self.close() })
            }
        }
    }

    // MARK: The writer thread

    /// Owns the file descriptor; used only by the writer thread.
    private final class Writer: @unchecked Sendable {
        let descriptor: Int32
        var bytes: [UInt8] = []
        private let write: @Sendable (Int32, UnsafeRawPointer, Int) -> Int

        init(descriptor: Int32, write: @escaping @Sendable (Int32, UnsafeRawPointer, Int) -> Int) {
            self.descriptor = descriptor
            self.write = write
        }

        /// The last time written, formatted: events come many to a millisecond.
        private var lastTime: (milliseconds: Int64, text: String)?

        /// `time.rfc3339`, formatted once per millisecond.
        func timeText(_ time: WallTime) -> String {
            let milliseconds = time.millisecondsSince1970
            if let lastTime, lastTime.milliseconds == milliseconds { return lastTime.text }
            let text = time.rfc3339
            self.lastTime = (milliseconds, text)
            return text
        }

        func append(_ event: borrowing Event) {
            event.appendJSON(to: &self.bytes)
            self.bytes.append(0x0A)
            self.lineEnds.append(self.bytes.count)
        }

        /// Where each line of `bytes` ends: a write that fails midway (a full disk)
        /// must leave only whole lines in the file, and say how many did not make it.
        private var lineEnds: [Int] = []
        /// Bytes of whole lines in the file so far.
        private var fileSize: off_t = 0

        /// Writes and empties `bytes`. When the kernel refuses a write, the lines not
        /// wholly written are lost, and a line cut short is cut off the file again: a
        /// spliced line would make the whole log unreadable. Returns why, and how many
        /// lines were lost.
        func flush() -> (reason: String, linesLost: Int)? {
            defer {
                self.bytes.removeAll(keepingCapacity: true)
                self.lineEnds.removeAll(keepingCapacity: true)
            }
            var offset = 0
            while offset < self.bytes.count {
                let result = self.bytes.withUnsafeBytes { raw in
                    self.write(self.descriptor, raw.baseAddress! + offset, raw.count - offset)
                }
                if result < 0 {
                    if errno == EINTR { continue }
                    let reason = String(cString: strerror(errno))
                    let whole = self.lineEnds.prefix { $0 <= offset }
                    let kept = whole.last ?? 0
                    // A regular file can be cut back; a pipe cannot, and needs not.
                    if kept < offset, ftruncate(self.descriptor, self.fileSize + off_t(kept)) == 0 {
                        lseek(self.descriptor, self.fileSize + off_t(kept), SEEK_SET)
                    }
                    self.fileSize += off_t(kept)
                    return (reason, self.lineEnds.count - whole.count)
                }
                offset += result
            }
            self.fileSize += off_t(self.bytes.count)
            return nil
        }
    }

    private func runWriter(_ writer: Writer) {
        // The batch the writer has emptied goes back as the next queue, its storage kept,
        // so the queue does not grow from nothing for each batch; kept only while
        // modest, so a burst's storage is let go.
        var batch = PendingEvents()
        // Events earlier writes lost (the kernel refused them), not yet said in the log.
        var owed = 0
        var owedReason = ""
        while true {
            self.testHooks?.gate.wait()
            let taken = self.state.withLock { state -> (drops: Int, dropTime: WallTime?, last: Bool)? in
                if state.queue.isEmpty, state.pendingDrops == 0, !state.closing {
                    state.writerSleeping = true
                    return nil
                }
                swap(&batch, &state.queue)
                let drops = state.pendingDrops
                state.pendingDrops = 0
                return (drops, state.firstDropTime, state.closing)
            }
            guard let taken else {
                self.wake.wait()
                continue
            }
            self.testHooks?.taken.signal()
            // Said first, so the log tells where events went missing.
            let noted = owed
            if noted > 0 {
                var event = Self.droppedEvent(noted, why: "the event log could not be written (\(owedReason))")
                event.time = self.clock.now().rfc3339
                writer.append(event)
                owed = 0
            }
            var lines = batch.count
            // Each event is moved out, stamped and written, never copied.
            batch.drain { pending in
                if pending.event.time == nil {
                    pending.event.time = writer.timeText(pending.time)
                }
                writer.append(pending.event)
            }
            if batch.capacity > Self.spareCapacity {
                batch = PendingEvents()
            }
            if taken.drops > 0 {
                var event = Self.droppedEvent(taken.drops, why: self.fellBehind)
                event.time = (taken.dropTime ?? self.clock.now()).rfc3339
                writer.append(event)
                lines += 1
            }
            let failure = writer.flush()
            var lostNow = 0
            if let failure {
                // The note of earlier losses is the batch's first line: it is lost only
                // when every line is, and then those losses are still owed.
                let noteLost = noted > 0 && failure.linesLost == lines + 1
                lostNow = failure.linesLost - (noteLost ? 1 : 0)
                owed = lostNow + (noteLost ? noted : 0)
                owedReason = failure.reason
            }
            let firstFailure = self.state.withLock { state -> Bool in
                state.written += lines - lostNow
                state.totalDrops += lostNow
                guard let failure, state.writeError == nil else { return false }
                state.writeError = failure.reason
                return true
            }
            if firstFailure, let failure {
                // Said at once, not only when the log is closed: a run may go on for hours.
                FileHandle.standardError.write(Data(
                    ("faultline: event log \(self.path): cannot write (\(failure.reason)); events are lost "
                        + "until it can, and a log_dropped event will say how many\n").utf8
                ))
            }
            if taken.last {
                closeDescriptor(writer.descriptor)
                self.state.withLock { $0.closed = true }
                self.finished.signal()
                return
            }
            // Let the next batch gather for a moment instead of sleeping at once: the
            // event loops then rarely find the writer asleep and pay for waking it (a
            // futex wake per few events at 50,000 events/s). A line reaches the file at
            // most about a millisecond later.
            usleep(Self.batchPause)
        }
    }

    /// A `log_dropped` event: `count` events were not written, and `why`.
    private static func droppedEvent(_ count: Int, why: String) -> Event {
        var event = Event(.logDropped)
        event.count = count
        event.reason = "\(why); \(count) events were not written"
        return event
    }

    /// Why events were refused when the queue was full.
    private var fellBehind: String {
        "the event log fell behind (queue of \(self.capacity) events full)"
    }
}

/// `write(2)`, spelled so that the writer's stand-in for tests can default to it.
@Sendable private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}

/// `close(2)`, spelled so that types with a `close()` method can call it.
func closeDescriptor(_ descriptor: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(descriptor)
    #else
    _ = Darwin.close(descriptor)
    #endif
}
