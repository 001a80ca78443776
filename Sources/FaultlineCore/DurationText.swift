/// Durations as people write them in profiles and flags: `150ms`, `2s`, `1.5s`, `1m`,
/// `1h`, `250us`. A bare number is rejected: a unit is always said.
package enum DurationText {
    private static let units: [(suffix: String, nanoseconds: Double)] = [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
    ]

    /// Parses `text`, or returns nil when it is not a non-negative number and a unit.
    package static func parse(_ text: String) -> Duration? {
        // Beyond ~292 years a duration no longer fits: refuse it rather than trap.
        guard let nanoseconds = Self.nanoseconds(text), nanoseconds < 9.2e18 else { return nil }
        return .nanoseconds(Int64(nanoseconds))
    }

    /// The nanoseconds `text` says, however many (rounded), or nil when it is not a
    /// non-negative number and a unit.
    package static func nanoseconds(_ text: String) -> Double? {
        let trimmed = text.trimmingSpaces
        // Longest suffix first, so "ms" is not read as "m" + "s".
        for (suffix, scale) in Self.units.sorted(by: { $0.suffix.count > $1.suffix.count }) {
            guard trimmed.hasSuffix(suffix) else { continue }
            let number = trimmed.dropLast(suffix.count)
            guard let value = Double(number), value >= 0, value.isFinite,
                number.first?.isNumber == true || number.first == "."
            else { return nil }
            return (value * scale).rounded()
        }
        return nil
    }

    /// The longest duration a profile, a rule, a run file or a toxic may give: 7 days.
    /// Longer ones are refused where they are read (with the file, line and column),
    /// so a fault never waits for ever by mistake. The fault engine's arithmetic
    /// saturates besides, so no combination of accepted values (a 7-day gap times a
    /// megabyte sliced byte by byte) can overflow.
    package static let maximum: Duration = .seconds(7 * 24 * 3600)

    /// `maximum` as messages say it.
    package static let maximumText = "168h (7 days)"

    /// The accepted forms, for error messages.
    package static let help = "a number and a unit: ns, us, ms, s, m or h (for example 150ms, 2s, 1m)"

    /// A duration for messages and events: `1.5s`, `150ms`, `70s`. The shortest form
    /// that `parse` reads back to exactly the same value (`exact`) when that is no longer
    /// than the value in its largest unit rounded to three decimals; else that rounded
    /// value (`1.235s` for a measured 1,234,567,891 ns), which reads back to within a
    /// thousandth of its unit. Where the text must read back exactly (a command line given
    /// back), use `exact`.
    package static func format(_ duration: Duration) -> String {
        let ns = duration.nanoseconds
        if ns <= 0 { return Self.exact(duration) }
        var rounded = "\(ns)ns"
        for (suffix, scale) in [("h", 3600e9), ("m", 60e9), ("s", 1e9), ("ms", 1e6), ("us", 1e3)] {
            let value = Double(ns) / scale
            if value >= 1 {
                let thousandths = (value * 1000).rounded() / 1000
                rounded = thousandths == thousandths.rounded() ? "\(Int64(thousandths))\(suffix)" : "\(thousandths)\(suffix)"
                break
            }
        }
        let exact = Self.exact(duration)
        return exact.count <= rounded.count ? exact : rounded
    }

    /// The shortest text `parse` reads back to exactly this duration: `70s` (never
    /// `1.167m`, which is 70.02 s), `100s`, `90s`, `2m`, `1.5s`, `250ms`, `1h`; a whole
    /// number of its unit where one is as short (`250ms`, not `0.25s`), else at most three
    /// decimals (`1.5s`), down to whole nanoseconds. Negative durations keep their sign
    /// (`parse` reads none: a flag's value is never negative).
    package static func exact(_ duration: Duration) -> String {
        let ns = duration.nanoseconds
        if ns == 0 { return "0s" }
        if ns < 0 { return ns == .min ? "\(ns)ns" : "-" + Self.exact(.nanoseconds(-ns)) }
        var best: (text: String, whole: Bool)?
        // Units from the largest, so a tie goes to the larger unit among equals.
        for (suffix, unit) in [("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000), ("ns", 1)] as [(String, Int64)] {
            let whole = ns / unit, rest = ns % unit
            guard whole > 0 || unit <= 1_000_000_000 else { continue }
            var text: String
            if rest == 0 {
                text = "\(whole)\(suffix)"
            } else {
                // At most three decimals, exactly: rest is a whole number of thousandths.
                let (thousandths, remainder) = (rest * 1_000).quotientAndRemainder(dividingBy: unit)
                guard remainder == 0 else { continue }
                var fraction = String(thousandths)
                while fraction.count < 3 { fraction = "0" + fraction }
                while fraction.hasSuffix("0") { fraction.removeLast() }
                text = "\(whole).\(fraction)\(suffix)"
            }
            // Only a form that reads back to the very same nanoseconds.
            guard Self.parse(text)?.nanoseconds == ns else { continue }
            let isWhole = whole > 0
            if let current = best {
                // A value of 1 or more (`250ms`) before a fraction (`0.25s`), then the shortest.
                if current.whole && !isWhole { continue }
                if current.whole == isWhole && current.text.count <= text.count { continue }
            }
            best = (text, isWhole)
        }
        return best?.text ?? "\(ns)ns"
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

extension Duration {
    /// `nanoseconds` nanoseconds (rounded), saturating: at most `Int64.max`
    /// nanoseconds (about 292 years); a negative count, or not a number, is zero.
    package static func nanoseconds(saturating nanoseconds: Double) -> Duration {
        guard nanoseconds > 0 else { return .zero }
        guard nanoseconds < 9.2e18 else { return .nanoseconds(Int64.max) }
        return .nanoseconds(Int64(nanoseconds.rounded()))
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
