import Synchronization

/// Numbers the attempts of each logical request a proxy sees, across its connections:
/// the one definition of "a retry" that `match.attempt`, the `attempt` of every logged
/// request, and `faultline check retries` share.
///
/// Requests with the same `Idempotency-Key` are attempts of one logical request; without
/// a key, requests with the same fingerprint (method, target and body; or the message's
/// bytes) from the same client host are. A client that retries on a new connection is
/// still counted, which is why the ledger belongs to the proxy and not to a connection.
/// A request not seen for `window` starts again from attempt 0, and at most `capacity`
/// requests are remembered (the oldest go first), so memory stays bounded on a long run.
///
/// Time is a `Duration` on any monotonic clock the caller keeps (the proxy passes its
/// event loop's uptime; the checker the log's `mono` stamps), so the ledger needs no NIO.
package final class AttemptLedger: Sendable {
    /// How long a logical request is remembered after its last attempt.
    package static let defaultWindow: Duration = .seconds(60)
    package static let defaultCapacity = 65_536

    private struct Entry {
        var attempts: UInt64
        var last: Duration
    }

    /// What groups attempts: the idempotency key, else the fingerprint scoped to the
    /// client host. Kept as parts, not joined into one string: every request is looked
    /// up, and joining allocated a string each time.
    private enum Key: Hashable {
        case idempotencyKey(String)
        case fingerprint(String, client: String?)
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// Keys in the order they were first seen, for eviction (`head` is the oldest).
        var order: [Key] = []
        var head = 0
    }

    private let state = Mutex(State())
    private let window: Duration
    private let capacity: Int

    package init(window: Duration = AttemptLedger.defaultWindow, capacity: Int = AttemptLedger.defaultCapacity) {
        self.window = window
        self.capacity = max(1, capacity)
    }

    /// The grouping key of a request: its idempotency key, else its fingerprint scoped
    /// to the client host (two hosts sending the same bytes are two requests); nil when
    /// it has neither (then no attempt rule can select it).
    private static func key(of info: MessageInfo, client: String?) -> Key? {
        if let key = info.idempotencyKey { return .idempotencyKey(key) }
        if let fingerprint = info.fingerprint { return .fingerprint(fingerprint, client: client) }
        return nil
    }

    /// Counts one more attempt of the logical request `info` belongs to, sent by `client`
    /// (a host, without port) and seen at `now`; returns its number from 0.
    package func attempt(of info: MessageInfo, client: String? = nil, at now: Duration) -> UInt64? {
        guard let key = Self.key(of: info, client: client) else { return nil }
        return self.state.withLock { state in
            // One hash for a request seen before (most are, on a busy proxy).
            let known = state.entries.index(forKey: key)
            if let known, case var entry = state.entries.values[known], now - entry.last <= self.window {
                entry.attempts += 1
                entry.last = now
                state.entries.values[known] = entry
                return entry.attempts - 1
            }
            if known == nil {
                state.order.append(key)
                while state.order.count - state.head > self.capacity {
                    state.entries[state.order[state.head]] = nil
                    state.head += 1
                }
                if state.head > 1024, state.head * 2 > state.order.count {
                    state.order.removeFirst(state.head)
                    state.head = 0
                }
            }
            state.entries[key] = Entry(attempts: 1, last: now)
            return 0
        }
    }
}
