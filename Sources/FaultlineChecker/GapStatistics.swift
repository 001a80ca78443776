import FaultlineCore

/// A fixed-size uniform sample of a stream (Vitter's algorithm R), so the checker keeps
/// at most `capacity` gaps per client and attempt index however long the log is.
///
/// Chance comes from a `SplitMix64` the owner passes in, seeded once: the same log
/// gives the same report.
struct Reservoir: Sendable {
    let capacity: Int
    private(set) var samples: [Double] = []
    /// How many values were offered (the sample stands for all of them).
    private(set) var seen = 0

    init(capacity: Int = 2048) {
        self.capacity = capacity
    }

    mutating func add(_ value: Double, random: inout SplitMix64) {
        self.seen += 1
        if self.samples.count < self.capacity {
            self.samples.append(value)
        } else {
            let slot = Int(random.next() % UInt64(self.seen))
            if slot < self.capacity { self.samples[slot] = value }
        }
    }
}

/// Robust summaries of gap samples (docs/checker.md).
enum GapStatistics {
    static func median(_ values: [Double]) -> Double? {
        Self.quantile(values, 0.5)
    }

    /// Linear-interpolated quantile `q` in [0, 1].
    static func quantile(_ values: [Double], _ q: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let position = q * Double(sorted.count - 1)
        let low = Int(position.rounded(.down)), high = Int(position.rounded(.up))
        let fraction = position - Double(low)
        return sorted[low] + (sorted[high] - sorted[low]) * fraction
    }

    static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    /// Coefficient of variation (sample standard deviation over mean); nil when the mean
    /// is not positive or there are fewer than 2 values.
    static func cv(_ values: [Double]) -> Double? {
        guard values.count >= 2, let mean = Self.mean(values), mean > 0 else { return nil }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
        return variance.squareRoot() / mean
    }

    /// A robust coefficient of variation: the interquartile range scaled to a normal
    /// standard deviation (IQR / 1.349) over the median. Late wake-ups of a busy client
    /// (a few gaps tens of milliseconds long) barely move it, so a deterministic
    /// schedule still reads as deterministic; a uniform jitter reads about 1.3× its CV.
    static func robustCV(_ values: [Double]) -> Double? {
        guard values.count >= 4, let median = Self.median(values), median > 0,
            let q1 = Self.quantile(values, 0.25), let q3 = Self.quantile(values, 0.75)
        else { return nil }
        return (q3 - q1) / 1.349 / median
    }

    /// Theil–Sen slope: the median of pairwise slopes of `points`.
    static func theilSen(_ points: [(x: Double, y: Double)]) -> Double? {
        var slopes: [Double] = []
        for i in points.indices {
            for j in points.indices where j > i && points[j].x != points[i].x {
                slopes.append((points[j].y - points[i].y) / (points[j].x - points[i].x))
            }
        }
        return Self.median(slopes)
    }
}
