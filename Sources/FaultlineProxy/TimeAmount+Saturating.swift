import NIOCore

/// Time arithmetic that cannot trap. NIO's `TimeAmount` `+` and `*` trap on overflow,
/// and a fault's times come from what users wrote (a gap times the pieces of a big
/// chunk, a latency plus its jitter, copy k of a duplicate k gaps later): past about 292
/// years they stay at the longest amount instead, which a timer treats as never.
/// (`NIODeadline + TimeAmount` already saturates at `.distantFuture`.)
extension TimeAmount {
    /// The longest amount: `Int64.max` nanoseconds.
    static let longest = TimeAmount.nanoseconds(.max)

    /// `self + other`, at most `longest` (and at least `-longest`).
    func adding(_ other: TimeAmount) -> TimeAmount {
        let (sum, overflow) = self.nanoseconds.addingReportingOverflow(other.nanoseconds)
        guard overflow else { return .nanoseconds(sum) }
        return other.nanoseconds > 0 ? .longest : .nanoseconds(.min)
    }

    /// `self × count`, at most `longest` for a positive amount.
    func times(_ count: Int) -> TimeAmount {
        let (product, overflow) = self.nanoseconds.multipliedReportingOverflow(by: Int64(count))
        guard overflow else { return .nanoseconds(product) }
        return (self.nanoseconds < 0) == (count < 0) ? .longest : .nanoseconds(.min)
    }
}
