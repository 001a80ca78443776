import Dispatch
import FaultlineCore
import Foundation
import Synchronization
import Testing

@testable import FaultlineRecords

@Suite(.timeLimit(.minutes(1)))
struct EventLogTests {
    static let start = WallTime(nanosecondsSince1970: 1_795_424_400_000_000_000)  // 2026-11-23T09:00:00Z

    static func event(_ ordinal: UInt64, _ type: Event.Kind = .connectionOpen) -> Event {
        var event = Event(type)
        event.proxy = "p"
        event.conn = ordinal
        return event
    }

    @Test func writesOneLinePerEventInOrderWithStampedTimes() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.jsonl")
        let log = try EventLog(path: path, clock: SteppingWallClock(start: Self.start))
        for ordinal in 0..<UInt64(1000) { log.record(Self.event(ordinal)) }
        try log.close()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 1001)  // 1000 lines and the empty text after the last newline
        #expect(lines.last == "")
        #expect(lines.first == #"{"conn":0,"proxy":"p","time":"2026-11-23T09:00:00.000Z","type":"conn_open","v":1}"#)
        let events = try EventLogReader.read(path: path)
        #expect(events.map(\.conn) == (0..<1000).map { Optional($0) })
        #expect(events[999].time == "2026-11-23T09:00:00.999Z")
        #expect(log.writtenEvents == 1000)
        #expect(log.droppedEvents == 0)
    }

    @Test func keepsATimeTheEventAlreadyHas() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.jsonl")
        let log = try EventLog(path: path, clock: SteppingWallClock(start: Self.start))
        var event = Event(.proxyStop)
        event.time = "2000-01-01T00:00:00.000Z"
        log.record(event)
        try log.close()
        #expect(try EventLogReader.read(path: path).first?.time == "2000-01-01T00:00:00.000Z")
    }

    /// A full queue refuses events, counts them, and the count reaches the file as a
    /// `log_dropped` event before anything recorded later.
    @Test func overflowIsCountedAndLoggedNeverSilent() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.jsonl")
        let hooks = EventLog.TestHooks(gate: DispatchSemaphore(value: 0), taken: DispatchSemaphore(value: 0))
        let log = try EventLog(path: path, clock: SteppingWallClock(start: Self.start), capacity: 4, testHooks: hooks)
        for ordinal in 0..<UInt64(10) { log.record(Self.event(ordinal, .message)) }
        #expect(log.droppedEvents == 6)
        hooks.gate.signal()
        hooks.taken.wait()  // the writer took the four queued events and the drop count
        log.record(Self.event(10, .message))
        for _ in 0..<3 { hooks.gate.signal() }
        try log.close()
        let events = try EventLogReader.read(path: path)
        #expect(events.map(\.type) == [.message, .message, .message, .message, .logDropped, .message])
        #expect(events.map(\.conn) == [0, 1, 2, 3, nil, 10])
        #expect(events[4].count == 6)
        #expect(events[4].reason?.contains("6 events were not written") == true)
        #expect(log.droppedEvents == 6)
    }

    /// A disk that fills midway through a batch: the line cut short is cut off the file
    /// again (a spliced line would make the whole log unreadable), the events that did
    /// not reach the file are counted, and once the disk takes writes again a
    /// `log_dropped` event says how many were lost, before the events after them.
    @Test func aFullDiskLosesWholeEventsAndTheLogSaysHowMany() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.jsonl")
        let room = Mutex<Int>(0)
        let refused = DispatchSemaphore(value: 0)
        let hooks = EventLog.TestHooks(
            gate: DispatchSemaphore(value: 0), taken: DispatchSemaphore(value: 0),
            write: { descriptor, bytes, count in
                let allowed = room.withLock { room in
                    defer { room -= min(room, count) }
                    return min(room, count)
                }
                guard allowed > 0 else {
                    errno = ENOSPC
                    refused.signal()
                    return -1
                }
                return write(descriptor, bytes, allowed)
            }
        )
        let log = try EventLog(path: path, clock: SteppingWallClock(start: Self.start), capacity: 16, testHooks: hooks)
        // Room for the first line and part of the second: the batch of three fails midway.
        let oneLine = Self.lineLength(of: Self.event(0, .message))
        room.withLock { $0 = oneLine + 10 }
        for ordinal in 0..<UInt64(3) { log.record(Self.event(ordinal, .message)) }
        hooks.gate.signal()
        hooks.taken.wait()
        // The writer has met the full disk (not only taken the batch: on a busy machine
        // the room would otherwise be freed before it writes).
        #expect(refused.wait(timeout: .now() + 60) == .success)
        // The disk frees; the next batch goes through.
        log.record(Self.event(3, .message))
        room.withLock { $0 = 1 << 20 }
        for _ in 0..<3 { hooks.gate.signal() }
        #expect(throws: RuntimeFailure.self) { try log.close() }
        let events = try EventLogReader.read(path: path)
        #expect(events.map(\.type) == [.message, .logDropped, .message])
        #expect(events.map(\.conn) == [0, nil, 3])
        #expect(events[1].count == 2)
        #expect(events[1].reason?.contains("No space left on device") == true)
        #expect(log.droppedEvents == 2)
        #expect(log.writtenEvents == 2)
    }

    /// The bytes one event's line takes in the log.
    static func lineLength(of event: Event) -> Int {
        var event = event
        event.time = "2026-11-23T09:00:00.000Z"
        var bytes: [UInt8] = []
        event.appendJSON(to: &bytes)
        return bytes.count + 1
    }

    /// Drops with nothing recorded after them still reach the file when it closes.
    @Test func dropsAtTheEndAreWrittenOnClose() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.jsonl")
        let hooks = EventLog.TestHooks(gate: DispatchSemaphore(value: 0), taken: DispatchSemaphore(value: 0))
        let log = try EventLog(path: path, clock: SteppingWallClock(start: Self.start), capacity: 2, testHooks: hooks)
        for ordinal in 0..<UInt64(5) { log.record(Self.event(ordinal, .fault)) }
        for _ in 0..<3 { hooks.gate.signal() }
        try log.close()
        let events = try EventLogReader.read(path: path)
        #expect(events.map(\.type) == [.fault, .fault, .logDropped])
        #expect(events.last?.count == 3)
    }

    /// Under a flood of messages a full queue still takes connections' opens and
    /// closes, up to a reserve of another `capacity`; past that they are counted too.
    @Test func opensAndClosesOutlastAFloodOfMessages() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.jsonl")
        let hooks = EventLog.TestHooks(gate: DispatchSemaphore(value: 0), taken: DispatchSemaphore(value: 0))
        let log = try EventLog(path: path, clock: SteppingWallClock(start: Self.start), capacity: 3, testHooks: hooks)
        for ordinal in 0..<UInt64(3) { log.record(Self.event(ordinal, .message)) }
        log.record(Self.event(3, .message))  // full: refused
        log.record(Self.event(4, .connectionClose))  // the reserve: kept
        log.record(Self.event(5, .duplicateReply))  // refused
        log.record(Self.event(6, .connectionOpen))  // kept: the queue holds 7 with two drop notes
        log.record(Self.event(7, .connectionClose))  // past the reserve (2 x 3): refused
        #expect(log.droppedEvents == 3)
        for _ in 0..<3 { hooks.gate.signal() }
        try log.close()
        let events = try EventLogReader.read(path: path)
        #expect(events.map(\.type) == [.message, .message, .message, .logDropped, .connectionClose, .logDropped, .connectionOpen, .logDropped])
        #expect(events.map(\.conn) == [0, 1, 2, nil, 4, nil, 6, nil])
        #expect(events.compactMap(\.count) == [1, 1, 1])
    }

    /// Many threads recording at once: every event is either in the file or counted.
    @Test func concurrentRecordersLoseNothingUncounted() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.jsonl")
        let log = try EventLog(path: path, clock: SystemWallClock(), capacity: 256)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<2000 { log.record(Self.event(UInt64(task * 10_000 + index))) }
                }
            }
        }
        try await log.close()
        let events = try EventLogReader.read(path: path)
        let written = events.filter { $0.type == .connectionOpen }.count
        let dropped = events.filter { $0.type == .logDropped }.reduce(0) { $0 + ($1.count ?? 0) }
        #expect(written + dropped == 16_000)
        #expect(dropped == log.droppedEvents)
    }

    @Test func closingTwiceIsHarmlessAndLateEventsAreCounted() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let log = try EventLog(path: directory.path("events.jsonl"))
        log.record(Self.event(0))
        try log.close()
        try log.close()
        log.record(Self.event(1))
        #expect(log.droppedEvents == 1)
        #expect(log.writtenEvents == 1)
    }

    /// A FIFO with no reader is refused at once: opening it waited for a reader for
    /// ever, before the proxy handled SIGINT or SIGTERM.
    @Test func aFIFOWithNoReaderIsABadInputNamingTheFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.fifo")
        #expect(mkfifo(path, 0o644) == 0)
        let error = #expect(throws: EventLogError.self) { _ = try EventLog(path: path) }
        #expect(error?.description.contains("a FIFO with no reader: start the reader first") == true, "\(String(describing: error))")
        #expect(error?.exitStatus == 2)
    }

    @Test func anUnwritablePathIsABadInputNamingTheFile() throws {
        let error = #expect(throws: EventLogError.self) {
            _ = try EventLog(path: "/nonexistent-directory/events.jsonl")
        }
        #expect(error?.description.hasPrefix("/nonexistent-directory/events.jsonl: cannot write the event log") == true)
        #expect(error?.exitStatus == 2)
    }

    static let times: [(Int64, String)] = [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_795_424_400_123_456_789, "2026-11-23T09:00:00.123Z"),
        (-1_000_000, "1969-12-31T23:59:59.999Z"),
        (951_868_799_999_000_000, "2000-02-29T23:59:59.999Z"),
        (.max, "2262-04-11T23:47:16.854Z"),
        (.min, "1677-09-21T00:12:43.145Z"),
    ]

    @Test(arguments: times)
    func wallTimeFormatsAsRFC3339WithMilliseconds(nanoseconds: Int64, text: String) {
        #expect(WallTime(nanosecondsSince1970: nanoseconds).rfc3339 == text)
    }
}
