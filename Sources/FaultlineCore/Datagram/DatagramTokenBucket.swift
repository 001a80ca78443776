/// The token bucket behind `rate`: pure arithmetic on times the caller supplies (the
/// engine passes its event loop's clock), so it is tested without sockets or sleeps.
package struct DatagramTokenBucket: Sendable, Equatable {
    package let rate: DatagramRate
    /// Tokens in the bucket as of `updated`.
    package private(set) var tokens: Double
    /// Monotonic nanoseconds of the last refill.
    package private(set) var updated: UInt64?

    /// A full bucket.
    package init(_ rate: DatagramRate) {
        self.rate = rate
        self.tokens = rate.effectiveBurst
    }

    /// Adds the tokens earned since the last call.
    package mutating func refill(now: UInt64) {
        if let updated = self.updated, now > updated {
            let earned = Double(now - updated) / 1e9 * self.rate.perSecond
            self.tokens = min(self.rate.effectiveBurst, self.tokens + earned)
        }
        if self.updated.map({ now > $0 }) ?? true {
            self.updated = now
        }
    }

    /// Takes a datagram's tokens if it may leave now; false leaves the bucket as it was.
    package mutating func take(bytes: Int, now: UInt64) -> Bool {
        self.refill(now: now)
        let cost = self.rate.cost(bytes: bytes)
        let burst = self.rate.effectiveBurst
        if self.tokens >= cost {
            self.tokens -= cost
            return true
        }
        // Larger than the whole bucket: let it pass when the bucket is full.
        if cost > burst && self.tokens >= burst {
            self.tokens = 0
            return true
        }
        return false
    }

    /// Nanoseconds until a datagram of `bytes` bytes could leave (0: now).
    package func wait(bytes: Int) -> UInt64 {
        let needed = min(self.rate.cost(bytes: bytes), self.rate.effectiveBurst) - self.tokens
        guard needed > 0 else { return 0 }
        // Saturating: a rate as low as 1e-12 a second waits longer than UInt64 counts.
        let nanoseconds = (needed / self.rate.perSecond * 1e9).rounded(.up)
        return nanoseconds < 1.8e19 ? UInt64(nanoseconds) : .max
    }
}
