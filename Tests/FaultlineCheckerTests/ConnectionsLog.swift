import FaultlineCore

@testable import FaultlineChecker

/// A made-up log of kept-alive connections for the checker: each connection's messages
/// and faults in the order they came, read back sorted by time. The protocol's requests
/// are written by extensions (`poll` for HTTP, `send` for RESP).
struct ConnectionsLog {
    private var events: [(mono: UInt64, sequence: Int, event: Event)] = []
    private var units: [UInt64: UInt64] = [:]
    private let upstream: String

    init(framing: String, upstream: String) {
        self.upstream = upstream
        var start = Event(.proxyStart)
        (start.proxy, start.mono, start.framing, start.seed) = ("proxy", 0, framing, 1)
        self.append(start)
    }

    mutating func append(_ event: Event) {
        self.events.append((event.mono ?? 0, self.events.count, event))
    }

    func event(_ type: Event.Kind, _ conn: UInt64, at mono: UInt64) -> Event {
        var event = Event(type)
        (event.proxy, event.conn, event.mono) = ("proxy", conn, mono)
        return event
    }

    /// The unit of the next request on `conn`.
    mutating func nextUnit(on conn: UInt64) -> UInt64 {
        let unit = self.units[conn, default: 0]
        self.units[conn] = unit + 1
        return unit
    }

    mutating func open(_ conn: UInt64, at mono: UInt64) {
        var open = self.event(.connectionOpen, conn, at: mono)
        open.client = "10.0.0.1:\(40_000 + conn)"
        open.upstream = self.upstream
        self.append(open)
    }

    mutating func close(_ conn: UInt64, at mono: UInt64, unanswered: UInt64? = nil) {
        var close = self.event(.connectionClose, conn, at: mono)
        (close.firstCloseMono, close.closedBy, close.reason) = (mono, "client", "closed")
        close.unansweredUnit = unanswered
        self.append(close)
    }

    func check() throws -> CheckReport {
        var checker = RetryChecker(options: RetryCheckOptions(), inputs: ["test.jsonl"])
        let ordered = self.events.sorted { ($0.mono, $0.sequence) < ($1.mono, $1.sequence) }
        for (index, item) in ordered.enumerated() {
            try checker.consume(item.event, file: "test.jsonl", line: index + 1)
        }
        return checker.finish()
    }
}
