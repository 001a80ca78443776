import Yams

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `corrupt`: random bits of the datagram flip; its length never changes (UDP only).
///
/// Each bit flips with probability `rate`; when that picks none (or `rate` is absent),
/// exactly one random bit flips, so a rule that fires always corrupts. UDP's checksum
/// would catch this on a real wire; through a proxy the payload arrives damaged with a
/// valid checksum, which is what a client must survive when a middlebox or buggy NIC
/// rewrites bytes. An empty datagram has no bits and passes unchanged.
///
///     fault: {kind: corrupt, rate: 0.001}
public struct DatagramCorruptFault: DatagramFaultKind {
    public static let kind = "corrupt"
    public static let summary = "UDP: flip random bits of the datagram (each with chance rate, or exactly one)"
    public static let parameters = ["rate"]

    /// Chance each bit flips; nil flips exactly one bit.
    public var rate: Double?

    public init(rate: Double? = nil) {
        self.rate = rate
    }

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        let rate = reader.optional(parameters, "rate") { reader.number($0, what: "rate (each bit's chance to flip)", in: 0...1) }
        if parameters.has("rate"), rate == nil { return nil }
        if rate == 0 {
            reader.fail(parameters["rate"], "rate must be above 0 (each bit's chance to flip); leave it out to flip exactly one bit")
            return nil
        }
        self.init(rate: rate)
    }

    public var params: [String: String] {
        self.rate.map { ["rate": ProfileReader.format($0)] } ?? [:]
    }

    public var explanation: String {
        if let rate = self.rate {
            return "flips each bit of the datagram with chance \(ProfileReader.format(rate)) (at least one bit), keeping its length"
        }
        return "flips one random bit of the datagram, keeping its length"
    }

    /// The positions come later, from the drawn `entropy` and the datagram's size.
    public func effect(random: inout DecisionRandom) -> FaultEffect {
        .datagram(.corrupt(rate: self.rate, entropy: random.next()))
    }

    /// The bit offsets (0 = most significant bit of byte 0) to flip in a datagram of
    /// `bytes` bytes, ascending; empty only for an empty datagram. All chance comes
    /// from `entropy`.
    package static func bits(in bytes: Int, rate: Double?, entropy: UInt64) -> [Int] {
        let bits = bytes * 8
        guard bits > 0 else { return [] }
        var random = DecisionRandom(DecisionKey(seed: entropy, connection: 0, unit: 0, rule: 0))
        var positions: [Int] = []
        if let rate {
            if rate >= 1 { return Array(0..<bits) }
            // Geometric skips: one draw per flipped bit instead of one per bit.
            let scale = log(1 - rate)
            var position = -1
            while true {
                let u = 1 - random.nextUnit()  // (0, 1]
                let skip = (log(u) / scale).rounded(.down)
                guard skip.isFinite, skip < Double(bits) else { break }
                position += Int(skip) + 1
                guard position < bits else { break }
                positions.append(position)
            }
        }
        if positions.isEmpty {
            positions = [Int(random.next() % UInt64(bits))]
        }
        return positions
    }
}
