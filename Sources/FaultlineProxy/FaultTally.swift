import FaultlineCore

/// What one connection's fault stages discarded and what faults added, per direction.
package struct FaultTally {
    /// Bytes discarded before the bridge saw them (blackhole, hang, past a cut), and
    /// bytes the bridge forwarded that a pacing stage then discarded (held when the
    /// connection was cut). Kept apart so `conn_close` stays truthful: the bridges count
    /// the second kind as read and written, the first kind not at all.
    package private(set) var droppedBeforeBridge: [Event.Direction: Int] = [:]
    package private(set) var droppedAfterBridge: [Event.Direction: Int] = [:]
    /// Bytes faults added: copies of duplicated requests sent upstream. Never part of
    /// the forwarded totals.
    package internal(set) var duplicated: [Event.Direction: Int] = [:]

    /// Bytes the engine discarded, per direction: `dropped_upstream` and
    /// `dropped_downstream` in `conn_close`.
    package var dropped: [Event.Direction: Int] {
        self.droppedBeforeBridge.merging(self.droppedAfterBridge, uniquingKeysWith: +)
    }

    mutating func addDropped(_ bytes: Int, _ direction: Event.Direction, afterBridge: Bool) {
        guard bytes > 0 else { return }
        if afterBridge {
            self.droppedAfterBridge[direction, default: 0] += bytes
        } else {
            self.droppedBeforeBridge[direction, default: 0] += bytes
        }
    }
}
