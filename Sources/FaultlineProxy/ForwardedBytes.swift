import Synchronization

/// Bytes a proxy wrote to each side's sockets so far, over every connection, open ones
/// included: what `/metrics` reads while connections stay open. Added to as each write
/// completes (a relaxed atomic add, shared by the proxy's loops); `conn_close` keeps
/// the exact per-connection figures, which also take back what a reset threw away.
package final class ForwardedBytes: Sendable {
    /// One direction's running total.
    package final class Count: Sendable {
        private let total = Atomic<Int>(0)

        func add(_ bytes: Int) {
            self.total.add(bytes, ordering: .relaxed)
        }

        package var value: Int {
            self.total.load(ordering: .relaxed)
        }
    }

    /// Written to upstream sockets.
    package let upstream = Count()
    /// Written to client sockets.
    package let downstream = Count()

    package init() {}
}
