/// A `rate` rule's limit: at most so many datagrams, or bytes, per second leave in the
/// rule's direction; the excess is dropped or queued.
///
/// A token bucket per session and direction (`DatagramTokenBucket`), filled at the rate,
/// holding at most `burst` (default: a tenth of a second's worth, at least one datagram
/// or 1,500 bytes). A datagram larger than the whole bucket passes when the bucket is
/// full, so no datagram is unsendable. With `excess: queue`, up to `queueLimit`
/// datagrams wait in order for tokens (a router's queue: adds latency, then drops);
/// beyond that they are dropped. The limit sees what leaves, duplicates included.
///
/// Rate is the one datagram fault driven by time, not by chance: the same traffic at
/// a different speed meets a different limit.
public struct DatagramRate: Sendable, Equatable {
    public enum Unit: Sendable, Equatable {
        case packets
        case bytes
    }

    public enum Excess: String, Sendable, Equatable, CaseIterable {
        case drop
        case queue
    }

    public static let defaultQueueLimit = 64
    public static let maximumQueueLimit = 65_536

    public var unit: Unit
    /// Datagrams or bytes per second.
    public var perSecond: Double
    /// The bucket's size in datagrams or bytes; nil for the default.
    public var burst: Double?
    public var excess: Excess
    /// With `excess: queue`, how many datagrams may wait.
    public var queueLimit: Int

    public init(
        packetsPerSecond: Double,
        burst: Double? = nil,
        excess: Excess = .drop,
        queueLimit: Int = DatagramRate.defaultQueueLimit
    ) {
        self.unit = .packets
        self.perSecond = packetsPerSecond
        self.burst = burst
        self.excess = excess
        self.queueLimit = queueLimit
    }

    public init(
        bytesPerSecond: Double,
        burst: Double? = nil,
        excess: Excess = .drop,
        queueLimit: Int = DatagramRate.defaultQueueLimit
    ) {
        self.unit = .bytes
        self.perSecond = bytesPerSecond
        self.burst = burst
        self.excess = excess
        self.queueLimit = queueLimit
    }

    /// The bucket's size in force.
    public var effectiveBurst: Double {
        if let burst = self.burst { return burst }
        switch self.unit {
        case .packets: return max(1, self.perSecond / 10)
        case .bytes: return max(1500, self.perSecond / 10)
        }
    }

    /// What a datagram of `bytes` bytes costs in tokens.
    public func cost(bytes: Int) -> Double {
        switch self.unit {
        case .packets: 1
        case .bytes: Double(bytes)
        }
    }
}
