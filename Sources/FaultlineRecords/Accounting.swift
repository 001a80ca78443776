import FaultlineCore

/// The accounting rule every event log must satisfy, as a reusable check.
///
/// For every connection and each direction, what the proxy read equals what it
/// forwarded plus what the log says faults dropped:
///
///     bytes_from_client   = bytes_to_upstream + dropped_upstream
///     bytes_from_upstream = bytes_to_client   + dropped_downstream
///
/// Bytes a fault added (`duplicated_*`) are counted separately and never in the
/// forwarded totals, so duplicates cannot hide drops. A UDP session (its `conn_close`
/// has datagram counts) sends its duplicates on the same socket, so for it the copies
/// are in the forwarded totals and the rule reads, in bytes and in datagrams:
///
///     from + duplicated = to + dropped
///
/// A connection whose `conn_open` has no `conn_close` is a violation too: its bytes
/// were never accounted. A second `conn_close` for a connection is one, and its books
/// are checked as well.
///
/// Copies of duplicated TCP requests travel on connections of their own, and each has
/// a `duplicate_reply` event, which says whether it was sent and its `request_bytes`.
/// A connection's `conn_close` waits for its copies, so its `duplicated_upstream` is
/// the sum of the copies its events say were sent, and no `duplicate_reply` of it comes
/// after it; either failing is a violation (the log would under-count what reached the
/// server).
///
/// A `message`, `fault` or `upstream_error` of a connection with no `conn_open` before
/// it is a violation as well (a `refuse` fault excepted: a refused client is never let
/// in): the proxy lost that connection's record, so nothing balances its bytes.
///
/// Built incrementally (`add` each event, then `finish`) so a log of any length is
/// checked in memory proportional to the connections open at once, not to the log.
package struct Accounting: Sendable, Equatable {
    /// One way a log fails the rule.
    package struct Violation: Sendable, Equatable, CustomStringConvertible {
        package var proxy: String?
        package var connection: UInt64
        package var direction: Event.Direction?
        package var message: String

        package var description: String {
            let where_ = "proxy \(self.proxy ?? "?") conn \(self.connection)"
            return self.direction.map { "\(where_) \($0.rawValue): \(self.message)" } ?? "\(where_): \(self.message)"
        }
    }

    private struct Key: Hashable, Sendable {
        var proxy: String?
        var connection: UInt64
    }

    /// Connections opened and not yet closed, with the order they opened in.
    private var open: [Key: Int] = [:]
    private var opened = 0
    /// Ordinals already closed, per proxy, to catch a second `conn_close`. Ordinals are
    /// dense and mostly close in order, so the ranges merge and this stays about as
    /// small as the set of open connections.
    private var closed: [String?: RangeSet<UInt64>] = [:]
    private var closedTwice: [Violation] = []
    private var books: [Violation] = []
    /// Per open connection: bytes of the copies its `duplicate_reply` events say were
    /// sent (`request_bytes`, unless `sent` is false).
    private var copyBytes: [Key: Int128] = [:]
    /// Open connections with a sent copy whose `request_bytes` is missing: their copies
    /// cannot be checked.
    private var copiesUncounted: Set<Key> = []
    /// Connections already reported for events with no `conn_open` (once each).
    private var unopened: Set<Key> = []

    /// An empty ledger; `add` each event in log order, then `finish`.
    package init() {}

    /// The violations in `events` (empty when the books balance).
    package static func check(_ events: [Event]) -> [Violation] {
        var accounting = Accounting()
        for event in events { accounting.add(event) }
        return accounting.finish()
    }

    /// Takes in one event. Keeps only the connections still open: a connection's books
    /// are checked at its `conn_close` and then it is forgotten.
    package mutating func add(_ event: Event) {
        guard let connection = event.conn else { return }
        switch event.type {
        case .connectionOpen:
            let key = Key(proxy: event.proxy, connection: connection)
            if self.open[key] == nil {
                self.open[key] = self.opened
                self.opened += 1
            }
        case .connectionClose:
            let key = Key(proxy: event.proxy, connection: connection)
            let wasOpen = self.open.removeValue(forKey: key) != nil
            let copies = self.copyBytes.removeValue(forKey: key) ?? 0
            let uncounted = self.copiesUncounted.remove(key) != nil
            if wasOpen, !uncounted { self.checkCopies(key, event, sent: copies) }
            if self.closed[key.proxy, default: RangeSet()].contains(connection) {
                self.closedTwice.append(Violation(proxy: key.proxy, connection: connection, direction: nil, message: "closed twice"))
            } else if connection < UInt64.max {
                self.closed[key.proxy, default: RangeSet()].insert(contentsOf: connection..<connection + 1)
            }
            self.checkBooks(key, event)
        case .duplicateReply:
            let key = Key(proxy: event.proxy, connection: connection)
            if self.open[key] != nil {
                guard event.params?["sent"] != "false" else { break }
                if let text = event.params?["request_bytes"], let bytes = Int(text), bytes >= 0 {
                    self.copyBytes[key, default: 0] += Int128(bytes)
                } else {
                    self.copiesUncounted.insert(key)
                }
            } else if self.closed[key.proxy]?.contains(connection) == true {
                let unit = event.unit.map { " (unit \($0), copy \(event.params?["copy"] ?? "?"))" } ?? ""
                self.books.append(
                    Violation(
                        proxy: key.proxy, connection: connection, direction: .upstream,
                        message: "a copy's duplicate_reply\(unit) comes after the connection's conn_close, whose duplicated_upstream cannot count it"
                    )
                )
            }
        case .message, .fault, .upstreamError:
            let key = Key(proxy: event.proxy, connection: connection)
            guard self.open[key] == nil, !self.unopened.contains(key), event.kind != "refuse" else { break }
            guard self.closed[key.proxy]?.contains(connection) != true else { break }
            self.unopened.insert(key)
            self.books.append(
                Violation(
                    proxy: key.proxy, connection: connection, direction: event.direction,
                    message: "its \(event.type.rawValue) event\(event.unit.map { " (unit \($0))" } ?? "") comes with no conn_open before it: the connection's record is lost"
                )
            )
        default:
            break
        }
    }

    /// A TCP connection's `duplicated_upstream` is what its copies' events say was sent.
    private mutating func checkCopies(_ key: Key, _ close: Event, sent: Int128) {
        guard close.datagramsFromClient == nil else { return }
        let duplicated = close.duplicatedUpstream ?? 0
        guard duplicated >= 0, Int128(duplicated) != sent else { return }
        self.books.append(
            Violation(
                proxy: key.proxy, connection: key.connection, direction: .upstream,
                message: "duplicated_upstream says \(duplicated) bytes of copies, but its duplicate_reply events say \(sent) were sent"
            )
        )
    }

    /// The violations: second closes, then connections never closed (in the order they
    /// opened), then unbalanced books by connection ordinal.
    package func finish() -> [Violation] {
        let neverClosed = self.open.sorted { $0.value < $1.value }.map { key, _ in
            Violation(
                proxy: key.proxy, connection: key.connection, direction: nil,
                message: "opened but never closed: its bytes are not accounted"
            )
        }
        let books = self.books.enumerated()
            .sorted { ($0.element.connection, $0.offset) < ($1.element.connection, $1.offset) }
            .map(\.element)
        return self.closedTwice + neverClosed + books
    }

    private mutating func checkBooks(_ key: Key, _ close: Event) {
        let isDatagramSession = close.datagramsFromClient != nil
        let sides: [(Event.Direction, Int?, Int?, Int?, Int?, String, String)] = [
            (.upstream, close.bytesFromClient, close.bytesToUpstream, close.droppedUpstream, close.duplicatedUpstream,
             "bytes_from_client", "bytes_to_upstream"),
            (.downstream, close.bytesFromUpstream, close.bytesToClient, close.droppedDownstream, close.duplicatedDownstream,
             "bytes_from_upstream", "bytes_to_client"),
        ]
        for (direction, received, forwarded, dropped, duplicated, receivedName, forwardedName) in sides {
            func violation(_ message: String) {
                self.books.append(Violation(proxy: key.proxy, connection: key.connection, direction: direction, message: message))
            }
            guard let received, let forwarded else {
                violation("conn_close lacks \(received == nil ? receivedName : forwardedName)")
                continue
            }
            let dropped = dropped ?? 0
            let added = isDatagramSession ? duplicated ?? 0 : 0
            if received < 0 || forwarded < 0 || dropped < 0 || (duplicated ?? 0) < 0 {
                violation("negative byte count")
                continue
            }
            // In 128 bits: a log may carry any Int, and the check must not trap on it.
            let unaccounted = Int128(received) + Int128(added) - Int128(forwarded) - Int128(dropped)
            if unaccounted != 0 {
                let copies = isDatagramSession ? ", with \(added) duplicated," : ""
                violation(
                    "received \(received) bytes\(copies) but forwarded \(forwarded) and dropped \(dropped): "
                        + "\(unaccounted) bytes unaccounted"
                )
            }
        }
        if isDatagramSession {
            let datagrams: [(Event.Direction, Int?, Int?, Int?, Int?)] = [
                (.upstream, close.datagramsFromClient, close.datagramsToUpstream, close.datagramsDroppedUpstream, close.datagramsDuplicatedUpstream),
                (.downstream, close.datagramsFromUpstream, close.datagramsToClient, close.datagramsDroppedDownstream, close.datagramsDuplicatedDownstream),
            ]
            for (direction, received, forwarded, dropped, duplicated) in datagrams {
                let (received, forwarded, dropped, duplicated) = (received ?? 0, forwarded ?? 0, dropped ?? 0, duplicated ?? 0)
                if Int128(received) + Int128(duplicated) != Int128(forwarded) + Int128(dropped) {
                    self.books.append(
                        Violation(
                            proxy: key.proxy, connection: key.connection, direction: direction,
                            message: "received \(received) datagrams, with \(duplicated) duplicated, but forwarded \(forwarded) and dropped \(dropped)"
                        )
                    )
                }
            }
        }
    }
}
