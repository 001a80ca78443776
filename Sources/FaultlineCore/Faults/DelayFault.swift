import Yams

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `delay`: latency plus jitter before each unit passes; order is always kept, so a
/// short delay never overtakes a long one ahead of it.
///
///     fault: {kind: delay, latency: 200ms, jitter: 50ms, distribution: normal}
package struct DelayFault: Fault {
    package enum Distribution: String, Sendable, CaseIterable {
        /// latency ± jitter, every value equally likely.
        case uniform
        /// latency with jitter as the standard deviation (cut at zero).
        case normal
    }

    package static let kind = "delay"
    package static let summary = "hold each chunk or message for a latency plus jitter, keeping order"
    package static let parameters = ["latency", "jitter", "distribution"]
    package static var scopes: [DecisionScope] { [.connection, .chunk, .message] }
    package static var redrawsPerUnit: Bool { true }

    package var latency: Duration
    package var jitter: Duration
    package var distribution: Distribution

    package init(latency: Duration, jitter: Duration = .zero, distribution: Distribution = .uniform) {
        self.latency = latency
        self.jitter = jitter
        self.distribution = distribution
    }

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        let latency = reader.required(parameters, "latency", what: "delay fault").flatMap { reader.duration($0, what: "latency") }
        let jitter = reader.optional(parameters, "jitter") { reader.duration($0, what: "jitter") }
        let distribution = reader.optional(parameters, "distribution") { reader.choice($0, what: "distribution", as: Distribution.self) }
        guard let latency, parameters["jitter"] == nil || jitter != nil, parameters["distribution"] == nil || distribution != nil else { return nil }
        self.init(latency: latency, jitter: jitter ?? .zero, distribution: distribution ?? .uniform)
    }

    package var params: [String: String] {
        ["latency": DurationText.format(self.latency), "jitter": DurationText.format(self.jitter), "distribution": self.distribution.rawValue]
    }

    package var explanation: String {
        if self.jitter == .zero {
            return "holds each chunk for \(DurationText.format(self.latency)) before passing it on, keeping order"
        }
        let spread = self.distribution == .uniform ? "± \(DurationText.format(self.jitter)), uniformly" : "with a standard deviation of \(DurationText.format(self.jitter)) (normal)"
        return "holds each chunk for \(DurationText.format(self.latency)) \(spread), before passing it on, keeping order"
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        // Without jitter (less than a nanosecond of it), the latency as it is: turning a
        // `Duration` into nanoseconds is most of this call's work.
        guard self.jitter >= .nanoseconds(1) else { return .delay(self.latency) }
        let base = Double(self.latency.nanoseconds)
        let spread = Double(self.jitter.nanoseconds)
        let offset: Double
        switch self.distribution {
        case .uniform: offset = (random.nextUnit() * 2 - 1) * spread
        case .normal: offset = random.normal() * spread
        }
        // Saturating: a latency and a jitter near the longest duration together exceed it.
        return .delay(.nanoseconds(saturating: base + offset))
    }
}
