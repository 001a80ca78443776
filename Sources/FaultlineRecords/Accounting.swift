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
/// were never accounted.
public enum Accounting {
    /// One way a log fails the rule.
    public struct Violation: Sendable, Equatable, CustomStringConvertible {
        public var proxy: String?
        public var connection: UInt64
        public var direction: Event.Direction?
        public var message: String

        public var description: String {
            let where_ = "proxy \(self.proxy ?? "?") conn \(self.connection)"
            return self.direction.map { "\(where_) \($0.rawValue): \(self.message)" } ?? "\(where_): \(self.message)"
        }
    }

    /// The violations in `events` (empty when the books balance).
    public static func check(_ events: [Event]) -> [Violation] {
        struct Key: Hashable {
            var proxy: String?
            var connection: UInt64
        }
        var opened: [Key] = []
        var closes: [Key: Event] = [:]
        var violations: [Violation] = []
        for event in events {
            guard let connection = event.conn else { continue }
            let key = Key(proxy: event.proxy, connection: connection)
            switch event.type {
            case .connectionOpen:
                opened.append(key)
            case .connectionClose:
                if closes[key] != nil {
                    violations.append(Violation(proxy: key.proxy, connection: connection, direction: nil, message: "closed twice"))
                }
                closes[key] = event
            default:
                break
            }
        }
        for key in opened where closes[key] == nil {
            violations.append(
                Violation(
                    proxy: key.proxy, connection: key.connection, direction: nil,
                    message: "opened but never closed: its bytes are not accounted"
                )
            )
        }
        for (key, close) in closes.sorted(by: { $0.key.connection < $1.key.connection }) {
            let isDatagramSession = close.datagramsFromClient != nil
            let sides: [(Event.Direction, Int?, Int?, Int?, Int?, String, String)] = [
                (.upstream, close.bytesFromClient, close.bytesToUpstream, close.droppedUpstream, close.duplicatedUpstream,
                 "bytes_from_client", "bytes_to_upstream"),
                (.downstream, close.bytesFromUpstream, close.bytesToClient, close.droppedDownstream, close.duplicatedDownstream,
                 "bytes_from_upstream", "bytes_to_client"),
            ]
            for (direction, received, forwarded, dropped, duplicated, receivedName, forwardedName) in sides {
                func violation(_ message: String) {
                    violations.append(Violation(proxy: key.proxy, connection: key.connection, direction: direction, message: message))
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
                if received + added != forwarded + dropped {
                    let copies = isDatagramSession ? ", with \(added) duplicated," : ""
                    violation(
                        "received \(received) bytes\(copies) but forwarded \(forwarded) and dropped \(dropped): "
                            + "\(received + added - forwarded - dropped) bytes unaccounted"
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
                    if received + duplicated != forwarded + dropped {
                        violations.append(
                            Violation(
                                proxy: key.proxy, connection: key.connection, direction: direction,
                                message: "received \(received) datagrams, with \(duplicated) duplicated, but forwarded \(forwarded) and dropped \(dropped)"
                            )
                        )
                    }
                }
            }
        }
        return violations
    }
}
