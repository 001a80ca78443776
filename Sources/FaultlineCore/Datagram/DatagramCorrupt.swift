#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `corrupt`: random bits of the datagram are flipped; its length never changes.
///
/// Each bit flips with probability `rate`; when that picks none (or `rate` is absent),
/// exactly one random bit flips, so a rule that fires always corrupts. UDP's checksum
/// would catch this on a real wire; through a proxy the payload arrives damaged with a
/// valid checksum, which is what a client must survive when a middlebox or buggy NIC
/// rewrites bytes. An empty datagram has no bits and passes unchanged.
///
/// ```yaml
/// fault: {kind: corrupt, rate: 0.001}
/// ```
public struct DatagramCorrupt: Decodable, Sendable, Equatable {
    public static let kind = "corrupt"

    /// Chance each bit flips; nil flips exactly one bit.
    public var rate: Double?

    public init(rate: Double? = nil) {
        self.rate = rate
    }

    public func validate() throws(InvalidInputError) {
        if let rate = self.rate, !(rate > 0 && rate <= 1) {
            throw InvalidInputError("corrupt: rate is each bit's chance to flip, above 0 and at most 1, got \(rate)")
        }
    }

    /// The bit offsets (0 = most significant bit of byte 0) to flip in a datagram of
    /// `bytes` bytes, ascending; empty only for an empty datagram.
    public func draw(bytes: Int, using random: inout DecisionRandom) -> [Int] {
        let bits = bytes * 8
        guard bits > 0 else { return [] }
        var positions: [Int] = []
        if let rate = self.rate {
            if rate >= 1 {
                return Array(0..<bits)
            }
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

    enum CodingKeys: String, CodingKey {
        case rate
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.rate = try container.decodeIfPresent(Double.self, forKey: .rate)
        try DatagramDecoding.check(container, .rate) { () throws(InvalidInputError) in try self.validate() }
    }
}
