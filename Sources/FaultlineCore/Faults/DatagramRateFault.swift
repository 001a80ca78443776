import Yams

/// `rate`: at most so many datagrams or bytes per second leave in the rule's direction,
/// per session; the excess is dropped or queued (UDP only; TCP's is `bandwidth`).
///
///     fault: {kind: rate, bytes_per_second: 125000, excess: queue, queue_limit: 32}
public struct DatagramRateFault: DatagramFaultKind {
    public static let kind = "rate"
    public static let summary = "UDP: a token bucket in datagrams or bytes per second; the excess dropped or queued"
    public static let parameters = ["packets_per_second", "bytes_per_second", "burst", "excess", "queue_limit"]

    public var rate: DatagramRate

    public init(_ rate: DatagramRate) {
        self.rate = rate
    }

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        let most = Double(Int32.max)
        let positive = { (key: String, what: String) -> Double? in
            reader.optional(parameters, key) { node in
                guard let value = reader.number(node, what: what, in: 0...most) else { return nil }
                guard value > 0 else {
                    reader.fail(node, "\(key) must be above 0")
                    return nil
                }
                return value
            }
        }
        let packets = positive("packets_per_second", "packets_per_second")
        let bytes = positive("bytes_per_second", "bytes_per_second")
        let burst = positive("burst", "burst (the bucket's size, in datagrams or bytes)")
        let excess = reader.optional(parameters, "excess") { reader.choice($0, what: "excess", as: DatagramRate.Excess.self) }
        let limit = reader.optional(parameters, "queue_limit") {
            reader.integer($0, what: "queue_limit", in: 1...DatagramRate.maximumQueueLimit)
        }
        var ok = [("packets_per_second", packets), ("bytes_per_second", bytes), ("burst", burst)].allSatisfy { !parameters.has($0.0) || $0.1 != nil }
            && (!parameters.has("excess") || excess != nil) && (!parameters.has("queue_limit") || limit != nil)
        if parameters.has("packets_per_second") == parameters.has("bytes_per_second") {
            reader.fail(parameters.node, "a rate fault needs exactly one of packets_per_second or bytes_per_second")
            ok = false
        }
        if parameters.has("queue_limit"), excess != .queue {
            reader.fail(parameters.key("queue_limit"), "queue_limit applies only with 'excess: queue'; dropped excess waits nowhere")
            ok = false
        }
        guard ok, let perSecond = packets ?? bytes else { return nil }
        let mode = excess ?? .drop
        let queueLimit = limit ?? DatagramRate.defaultQueueLimit
        self.init(
            packets != nil
                ? DatagramRate(packetsPerSecond: perSecond, burst: burst, excess: mode, queueLimit: queueLimit)
                : DatagramRate(bytesPerSecond: perSecond, burst: burst, excess: mode, queueLimit: queueLimit)
        )
    }


    public var params: [String: String] {
        var params: [String: String] = [
            self.rate.unit == .packets ? "packets_per_second" : "bytes_per_second": ProfileReader.format(self.rate.perSecond),
            "excess": self.rate.excess.rawValue,
        ]
        if let burst = self.rate.burst { params["burst"] = ProfileReader.format(burst) }
        if self.rate.excess == .queue { params["queue_limit"] = String(self.rate.queueLimit) }
        return params
    }

    public var explanation: String {
        let unit = self.rate.unit == .packets ? "datagrams" : "bytes"
        let excess = self.rate.excess == .queue
            ? "queues the excess (up to \(self.rate.queueLimit) datagrams, then drops)"
            : "drops the excess"
        return "lets at most \(ProfileReader.format(self.rate.perSecond)) \(unit) per second through, per session, and \(excess)"
    }

    public func effect(random: inout DecisionRandom) -> FaultEffect {
        .datagram(.rate(self.rate))
    }
}
