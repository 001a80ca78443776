import FaultlineCore
import NIOCore
import Synchronization

/// Numbers the attempts of each logical request a proxy sees, across its connections,
/// so a rule can say "the first two attempts of every request" (`match.attempt`).
///
/// Requests with the same `Idempotency-Key` are attempts of one logical request; without
/// a key, requests with the same fingerprint (method, target and body; or the message's
/// bytes) are. A client that retries on a new connection is still counted, which is why
/// the ledger belongs to the proxy and not to a connection. A key not seen for `window`
/// starts again from attempt 0, and at most `capacity` keys are remembered (the oldest
/// go first), so memory stays bounded on a long run.
public final class AttemptLedger: Sendable {
    /// How long a logical request is remembered after its last attempt.
    public static let defaultWindow: TimeAmount = .seconds(60)
    public static let defaultCapacity = 65_536

    private struct Entry {
        var attempts: UInt64
        var last: NIODeadline
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Keys in the order they were first seen, for eviction.
        var order = CircularBuffer<String>()
    }

    private let state = Mutex(State())
    private let window: TimeAmount
    private let capacity: Int

    public init(window: TimeAmount = AttemptLedger.defaultWindow, capacity: Int = AttemptLedger.defaultCapacity) {
        self.window = window
        self.capacity = max(1, capacity)
    }

    /// The grouping key of a request: its idempotency key, else its fingerprint; nil
    /// when it has neither (then no attempt rule can select it).
    public static func key(of info: MessageInfo) -> String? {
        if let key = info.idempotencyKey { return "key:" + key }
        if let fingerprint = info.fingerprint { return "fingerprint:" + fingerprint }
        return nil
    }

    /// Counts one more attempt of the logical request `info` belongs to, seen at `now`,
    /// and returns its number from 0.
    public func attempt(of info: MessageInfo, at now: NIODeadline) -> UInt64? {
        guard let key = Self.key(of: info) else { return nil }
        return self.state.withLock { state in
            if var entry = state.entries[key], now - entry.last <= self.window {
                entry.attempts += 1
                entry.last = now
                state.entries[key] = entry
                return entry.attempts - 1
            }
            if state.entries[key] == nil {
                state.order.append(key)
                while state.order.count > self.capacity, let oldest = state.order.popFirst() {
                    state.entries[oldest] = nil
                }
            }
            state.entries[key] = Entry(attempts: 1, last: now)
            return 0
        }
    }
}
