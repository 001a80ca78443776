/// Durations as people write them in profiles and flags: `150ms`, `2s`, `1.5s`, `1m`,
/// `1h`, `250us`. A bare number is rejected: a unit is always said.
package enum DurationText {
    private static let units: [(suffix: String, nanoseconds: Double)] = [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
    ]

    /// Parses `text`, or returns nil when it is not a non-negative number and a unit.
    package static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingSpaces
        // Longest suffix first, so "ms" is not read as "m" + "s".
        for (suffix, scale) in Self.units.sorted(by: { $0.suffix.count > $1.suffix.count }) {
            guard trimmed.hasSuffix(suffix) else { continue }
            let number = trimmed.dropLast(suffix.count)
            guard let value = Double(number), value >= 0, value.isFinite,
                number.first?.isNumber == true || number.first == "."
            else { return nil }
            // Beyond ~292 years a duration no longer fits: refuse it rather than trap.
            let nanoseconds = (value * scale).rounded()
            guard nanoseconds < 9.2e18 else { return nil }
            return .nanoseconds(Int64(nanoseconds))
        }
        return nil
    }

    /// The accepted forms, for error messages.
    package static let help = "a number and a unit: ns, us, ms, s, m or h (for example 150ms, 2s, 1m)"

    /// Text that `parse` reads back to the same value: `1.5s`, `150ms`.
    package static func format(_ duration: Duration) -> String {
        let ns = duration.nanoseconds
        if ns == 0 { return "0s" }
        for (suffix, scale) in [("h", 3600e9), ("m", 60e9), ("s", 1e9), ("ms", 1e6), ("us", 1e3)] {
            let value = Double(ns) / scale
            if value >= 1 {
                let rounded = (value * 1000).rounded() / 1000
                return rounded == rounded.rounded() ? "\(Int64(rounded))\(suffix)" : "\(rounded)\(suffix)"
            }
        }
        return "\(ns)ns"
    }
}

extension Duration {
    /// The whole duration in nanoseconds (saturating).
    package var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return whole.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
