#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `delay`: the datagram leaves `latency` plus a jitter draw later.
///
/// Unlike TCP's delay, order is *not* kept: each datagram gets its own draw, so when the
/// jitter is larger than the gap between two datagrams the later one can overtake the
/// earlier, exactly as on a real network with variable latency. Use `reorder` for
/// reordering on purpose, this for reordering as a side effect of jitter.
///
/// Jitter is `uniform` (latency ± jitter, evenly) or `normal` (jitter is the standard
/// deviation). A draw below zero is clamped to zero: a datagram never leaves early.
///
/// ```yaml
/// fault: {kind: delay, latency: 20ms, jitter: 5ms, distribution: normal}
/// ```
public struct DatagramDelay: Decodable, Sendable, Equatable {
    public static let kind = "delay"

    public enum Distribution: String, Decodable, Sendable, Equatable {
        case uniform
        case normal
    }

    public var latency: Duration
    public var jitter: Duration
    public var distribution: Distribution

    public init(latency: Duration, jitter: Duration = .zero, distribution: Distribution = .uniform) {
        self.latency = latency
        self.jitter = jitter
        self.distribution = distribution
    }

    /// This datagram's delay: all chance from `random`.
    public func draw(using random: inout DecisionRandom) -> Duration {
        let latency = Double(self.latency.nanoseconds)
        let jitter = Double(self.jitter.nanoseconds)
        guard jitter > 0 else { return self.latency }
        let offset: Double
        switch self.distribution {
        case .uniform:
            offset = (random.nextUnit() * 2 - 1) * jitter
        case .normal:
            // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
            let u1 = 1 - random.nextUnit()
            let u2 = random.nextUnit()
            offset = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2) * jitter
        }
        return .nanoseconds(Int64(max(0, latency + offset).rounded()))
    }

    enum CodingKeys: String, CodingKey {
        case latency, jitter, distribution
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let latency = try DatagramDecoding.duration(container, .latency) else {
            throw DecodingError.keyNotFound(
                CodingKeys.latency,
                .init(codingPath: container.codingPath, debugDescription: "delay needs latency, for example \"20ms\"")
            )
        }
        self.latency = latency
        self.jitter = try DatagramDecoding.duration(container, .jitter) ?? .zero
        self.distribution = try container.decodeIfPresent(Distribution.self, forKey: .distribution) ?? .uniform
    }
}
