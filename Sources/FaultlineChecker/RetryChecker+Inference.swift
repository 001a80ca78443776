import FaultlineCore
import Foundation

/// What the checker infers about a client's backoff from its gap samples (docs/checker.md).
extension RetryChecker {
    /// Per-index envelope and the fitted shape.
    struct BackoffProfile {
        /// Index, median, 95th percentile, 10th percentile (`low`), count, for indices
        /// with enough gaps.
        var envelope: [(index: Int, m: Double, t: Double, low: Double, n: Int)] = []
        var growth: Double?
        /// T at the first index with a measurable (non-immediate) delay.
        var initial: Double?
        var kind = "unknown"
        var cap: Double?
        var note: String?
    }

    static let minimumPerIndex = 3

    static func profile(of aggregate: ClientAggregate, minGapNs: Double) -> BackoffProfile {
        var profile = BackoffProfile()
        for (index, reservoir) in aggregate.gaps.sorted(by: { $0.key < $1.key }) where reservoir.seen >= Self.minimumPerIndex {
            guard let m = GapStatistics.median(reservoir.samples), let t = GapStatistics.quantile(reservoir.samples, 0.95),
                let low = GapStatistics.quantile(reservoir.samples, 0.1)
            else { continue }
            profile.envelope.append((index, m, t, low, reservoir.seen))
        }
        guard !profile.envelope.isEmpty else {
            profile.note = aggregate.retried == 0 ? "no retries" : "too few gaps (needs \(Self.minimumPerIndex) before the same attempt)"
            return profile
        }
        if profile.envelope.allSatisfy({ $0.m < minGapNs }) {
            // Only first retries seen: urllib3 retries once at once, then backs off.
            guard profile.envelope.contains(where: { $0.index >= 2 }) else {
                profile.note = "first retries immediate (as urllib3 does); too few later retries to say more"
                return profile
            }
            profile.kind = "immediate"
            profile.initial = profile.envelope[0].t
            profile.growth = 1
            return profile
        }
        var timed = profile.envelope.filter { $0.t >= minGapNs && $0.m >= minGapNs / 2 }
        if profile.envelope.first.map({ $0.index == 1 && $0.m < minGapNs }) == true {
            profile.note = "first retry immediate (as urllib3 does), then backoff"
        }
        profile.initial = timed.first?.t
        guard timed.count >= 2 else {
            profile.note = (profile.note.map { $0 + "; " } ?? "") + (timed.first.map { "delays measured only \(Self.beforeAttempts([$0.index]))" } ?? "no delay measured") + ": growth unknown"
            return profile
        }
        // Growth from the first indices (before any cap), on the longest delays (T_i)
        // and on the shortest (the 10th percentile), whichever grows more: a client that
        // adds jitter on top of its delay (stamina: up to 1 s added to 0.1 s doubling)
        // has longest delays that jitter flattens, and shortest ones that still double.
        let head = Array(timed.prefix(4))
        let longest = Self.fit(head.map { (x: Double($0.index), y: $0.t) })
        let lows = head.filter { $0.low >= minGapNs }
        let shortest = lows.count >= 2 ? Self.fit(lows.map { (x: Double($0.index), y: $0.low) }) : nil
        let (growth, linearWins) = shortest.map { $0.growth > longest.growth ? $0 : longest } ?? longest
        profile.growth = growth
        if let shortest, shortest.growth > longest.growth, longest.growth < 1.3, shortest.growth >= 1.3 {
            profile.note = (profile.note.map { $0 + "; " } ?? "")
                + "growth read on the shortest delays (×\(String(format: "%.2f", shortest.growth))): the longest (×\(String(format: "%.2f", longest.growth))) carry jitter added on top"
        }
        if growth >= 1.3, !linearWins {
            profile.kind = "exponential"
        } else if growth >= 0.85, growth <= 1.2 {
            profile.kind = "constant"
        } else if linearWins || growth > 1.2 {
            profile.kind = "linear"
        } else {
            profile.kind = "constant"
        }
        // Cap: growth first, then at least two flat points (|ln r| < ln 1.15).
        if timed.count >= 3 {
            let last = timed.suffix(2).map(\.t)
            if abs(log(last[1] / last[0])) < log(1.15), timed[0].t * 1.3 < last[0] {
                profile.cap = GapStatistics.median(last)
            }
        }
        timed.removeAll()
        return profile
    }

    /// Theil–Sen growth per attempt of (index, delay) points, and whether a straight line
    /// fits them clearly better than an exponential (1, 2, 3 has b̂ 1.7 but is linear).
    static func fit(_ points: [(x: Double, y: Double)]) -> (growth: Double, linearWins: Bool) {
        let beta = GapStatistics.theilSen(points.map { (x: $0.x, y: log($0.y)) }) ?? 0
        let alpha = GapStatistics.theilSen(points) ?? 0
        let expIntercept = GapStatistics.median(points.map { log($0.y) - beta * $0.x }) ?? 0
        let linIntercept = GapStatistics.median(points.map { $0.y - alpha * $0.x }) ?? 0
        // Mean absolute log residual of each fit.
        let expResidual = GapStatistics.mean(points.map { abs(log($0.y) - expIntercept - beta * $0.x) }) ?? 0
        let linResidual = GapStatistics.mean(points.map { point in
            let fit = linIntercept + alpha * point.x
            return fit > 0 ? abs(log(point.y / fit)) : 10
        }) ?? 10
        return (exp(beta), points.count >= 3 && alpha > 0 && linResidual < 0.5 * expResidual)
    }

    static func behaviour(client: String, aggregate: ClientAggregate, profile: BackoffProfile, minGapNs: Double) -> CheckReport.ClientBehaviour {
        var behaviour = CheckReport.ClientBehaviour(client: client)
        behaviour.logicalRequests = aggregate.logicalRequests
        behaviour.retried = aggregate.retried
        behaviour.maxAttempts = aggregate.maxAttempts
        behaviour.meanAttempts = aggregate.retried > 0 ? Double(aggregate.attemptsInRetried) / Double(aggregate.retried) : 1
        behaviour.backoff = profile.kind
        behaviour.growth = profile.growth
        behaviour.initialDelayNs = profile.initial.map { Int64($0) }
        behaviour.capNs = profile.cap.map { Int64($0) }
        behaviour.deadlineNs = aggregate.deadline.map { Int64($0) }
        behaviour.timeoutNs = GapStatistics.median(aggregate.timeouts.samples).map { Int64($0) }
        behaviour.samples = aggregate.gaps.values.reduce(0) { $0 + $1.seen }
        var notes: [String] = profile.note.map { [$0] } ?? []
        if aggregate.immediateBySends > 0 {
            notes.append("\(counted(aggregate.immediateBySends, "retry", plural: "retries")) sent within \(RetryChecker.seconds(minGapNs)) of the attempt before, whose failure has no time in the log (UDP): immediate")
        }

        // Jitter: gaps normalised by their index's median, pooled (the median, not the
        // 95th percentile: a few late wake-ups must not stretch the scale).
        var normalised: [Double] = []
        for point in profile.envelope where point.t >= minGapNs && point.m > 0 {
            normalised += (aggregate.gaps[point.index]?.samples ?? []).map { $0 / point.m }
        }
        if normalised.count >= 20, let plain = GapStatistics.cv(normalised), let low = normalised.min() {
            // Robust CV (IQR-based): full U(0,1) ≈ 0.74, equal U(½,1) ≈ 0.25, ±20 % ≈ 0.15.
            // The smallest gap over the median: full ≈ 0, equal ≈ 0.67, ±p ≈ 1 − p.
            let cv = min(plain, GapStatistics.robustCV(normalised) ?? plain)
            behaviour.jitterCV = cv
            if cv < 0.05 {
                behaviour.jitter = "none"
            } else if cv > 0.35, low < 0.3 {
                behaviour.jitter = "full"
            } else if low >= 0.72 {
                behaviour.jitter = "proportional"
            } else if low >= 0.5, cv >= 0.1 {
                behaviour.jitter = "equal"
            } else {
                behaviour.jitter = "unknown"
                notes.append("jitter CV \(String(format: "%.2f", cv)), smallest normalised gap \(String(format: "%.2f", low)): no standard shape")
            }
        } else {
            notes.append("jitter unknown: \(counted(normalised.count, "gap")) before attempts whose delays are \(RetryChecker.seconds(minGapNs)) or more (needs 20)")
        }
        behaviour.note = notes.isEmpty ? nil : notes.joined(separator: "; ")
        return behaviour
    }
}
