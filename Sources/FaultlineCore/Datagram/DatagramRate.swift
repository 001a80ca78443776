/// `rate`: at most so many datagrams, or bytes, per second leave in the rule's
/// direction; the excess is dropped or queued.
///
/// A token bucket per session and direction, filled at the rate, holding at most
/// `burst` (default: a tenth of a second's worth, at least one datagram or 1,500
/// bytes). A datagram larger than the whole bucket passes when the bucket is full, so
/// no datagram is unsendable. With `excess: queue`, up to `queue_limit` datagrams wait
/// in order for tokens (a router's queue: adds latency, then drops); beyond that they
/// are dropped. The limit sees what leaves, duplicates included.
///
/// Rate is the one datagram fault driven by time, not by chance: the same traffic at
/// a different speed meets a different limit.
///
/// ```yaml
/// fault: {kind: rate, packets_per_second: 100}
/// fault: {kind: rate, bytes_per_second: 125000, excess: queue, queue_limit: 32}
/// ```
public struct DatagramRate: Decodable, Sendable, Equatable {
    public static let kind = "rate"

    public enum Unit: Sendable, Equatable {
        case packets
        case bytes
    }

    public enum Excess: String, Decodable, Sendable, Equatable, CaseIterable {
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

    public func validate() throws(InvalidInputError) {
        guard self.perSecond > 0, self.perSecond.isFinite else {
            throw InvalidInputError("rate: the rate must be above 0, got \(self.perSecond)")
        }
        if let burst = self.burst, !(burst > 0 && burst.isFinite) {
            throw InvalidInputError("rate: burst must be above 0, got \(burst)")
        }
        guard (1...Self.maximumQueueLimit).contains(self.queueLimit) else {
            throw InvalidInputError("rate: queue_limit is from 1 to \(Self.maximumQueueLimit), got \(self.queueLimit)")
        }
    }

    enum CodingKeys: String, CodingKey {
        case packetsPerSecond = "packets_per_second"
        case bytesPerSecond = "bytes_per_second"
        case burst, excess
        case queueLimit = "queue_limit"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let packets = try container.decodeIfPresent(Double.self, forKey: .packetsPerSecond)
        let bytes = try container.decodeIfPresent(Double.self, forKey: .bytesPerSecond)
        switch (packets, bytes) {
        case (let packets?, nil):
            self.unit = .packets
            self.perSecond = packets
        case (nil, let bytes?):
            self.unit = .bytes
            self.perSecond = bytes
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .packetsPerSecond,
                in: container,
                debugDescription: "rate needs exactly one of packets_per_second or bytes_per_second"
            )
        }
        self.burst = try container.decodeIfPresent(Double.self, forKey: .burst)
        self.excess = try container.decodeIfPresent(Excess.self, forKey: .excess) ?? .drop
        self.queueLimit = try container.decodeIfPresent(Int.self, forKey: .queueLimit) ?? Self.defaultQueueLimit
        try DatagramDecoding.check(container, .packetsPerSecond) { () throws(InvalidInputError) in try self.validate() }
    }
}
