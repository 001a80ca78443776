import Foundation

/// What the checker infers about a client's backoff from its gap samples (checker.md §5).
extension RetryChecker {
    /// Per-index envelope and the fitted shape.
    struct BackoffProfile {
        /// Index, median, 95th percentile, count, for indices with enough gaps.
        var envelope: [(index: Int, m: Double, t: Double, n: Int)] = []
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
            guard let m = GapStatistics.median(reservoir.samples), let t = GapStatistics.quantile(reservoir.samples, 0.95) else { continue }
            profile.envelope.append((index, m, t, reservoir.seen))
        }
        guard !profile.envelope.isEmpty else {
            profile.note = aggregate.retried == 0 ? "no retries" : "too few gaps (needs \(Self.minimumPerIndex) at an attempt index)"
            return profile
        }
        if profile.envelope.allSatisfy({ $0.m < minGapNs }) {
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
            profile.note = (profile.note.map { $0 + "; " } ?? "") + "delays measured at one attempt index only: growth unknown"
            return profile
        }
        // Growth from the first indices (before any cap), Theil–Sen on ln T_i.
        let head = Array(timed.prefix(4))
        let beta = GapStatistics.theilSen(head.map { (Double($0.index), log($0.t)) }) ?? 0
        let growth = exp(beta)
        profile.growth = growth
        let alpha = GapStatistics.theilSen(head.map { (Double($0.index), $0.t) }) ?? 0
        let expIntercept = GapStatistics.median(head.map { log($0.t) - beta * Double($0.index) }) ?? 0
        let linIntercept = GapStatistics.median(head.map { $0.t - alpha * Double($0.index) }) ?? 0
        let expResidual = GapStatistics.median(head.map { abs(log($0.t) - expIntercept - beta * Double($0.index)) }) ?? 0
        let linResidual = GapStatistics.median(head.map { point in
            let fit = linIntercept + alpha * Double(point.index)
            return fit > 0 ? abs(log(point.t / fit)) : .infinity
        }) ?? .infinity
        if growth >= 1.3, expResidual <= linResidual || head.count < 3 {
            profile.kind = "exponential"
        } else if growth >= 0.85, growth <= 1.2 {
            profile.kind = "constant"
        } else if alpha > 0, head.count >= 3, linResidual < expResidual {
            profile.kind = "linear"
        } else {
            profile.kind = growth >= 1.3 ? "exponential" : growth > 1.2 ? "linear" : "constant"
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

        // Jitter: gaps normalised by their index's 95th percentile, pooled.
        var normalised: [Double] = []
        for point in profile.envelope where point.t >= minGapNs {
            normalised += (aggregate.gaps[point.index]?.samples ?? []).map { $0 / point.t }
        }
        if normalised.count >= 20, let cv = GapStatistics.cv(normalised), let low = normalised.min() {
            behaviour.jitterCV = cv
            if cv < 0.05 {
                behaviour.jitter = "none"
            } else if cv > 0.35, low < 0.25 {
                behaviour.jitter = "full"
            } else if low >= 0.58, cv < 0.2 {
                behaviour.jitter = "proportional"
            } else if low >= 0.35, cv >= 0.1, cv < 0.32 {
                behaviour.jitter = "equal"
            } else {
                behaviour.jitter = "unknown"
                notes.append("jitter CV \(String(format: "%.2f", cv)), smallest normalised gap \(String(format: "%.2f", low)): no standard shape")
            }
        } else {
            notes.append("jitter unknown: \(normalised.count) measurable gaps (needs 20)")
        }
        behaviour.note = notes.isEmpty ? nil : notes.joined(separator: "; ")
        return behaviour
    }
}
