import FaultlineCore

/// Turns a Toxiproxy toxic into faultline rules. docs/toxiproxy.md has the same table
/// for people; keep the two together.
///
/// Every rule is named after the toxic (decision keys hash the rule's name, so the same
/// toxic name and seed give the same connections), matches the toxic's stream as its
/// direction, and is decided once per connection with the toxic's toxicity as its
/// probability: a connection is toxic or clean for its whole life, it never flips when
/// another toxic changes (Toxiproxy re-rolls then).
///
/// | toxic | rules |
/// |---|---|
/// | latency | delay latency ± jitter (uniform), each chunk, order kept |
/// | bandwidth | bandwidth rate × 1000 bytes/s, at most 2,147,483,647; rate ≤ 0: none |
/// | slow_close | slow_close: the stream's end (FIN, then the close) held `delay` ms after it arrives; delay ≤ 0: none |
/// | timeout | 0: blackhole (discard, keep open); > 0: hang, then FIN `timeout` ms after the first data held |
/// | reset_peer | sever reset `timeout` ms after the connection opened |
/// | slicer | slice into writes of `average_size` ± `size_variation` bytes (uniform, at least 1), `delay` µs apart |
/// | limit_data | sever fin once `bytes` bytes passed in the stream |
/// | noop | none |
package enum ToxicMapping {
    package static func rules(for toxic: Toxic) -> [Rule] {
        let match = RuleMatch(direction: toxic.stream.direction)
        let probability = Double(min(max(toxic.toxicity, 0), 1))
        let location = ProfileLocation(file: "toxic:\(toxic.name)")
        func rule(_ name: String, _ fault: any Fault) -> Rule {
            Rule(name: name, match: match, probability: probability, per: .connection, fault: fault, location: location)
        }
        func milliseconds(_ key: String) -> Duration {
            .milliseconds(max(0, toxic.attribute(key)))
        }
        switch toxic.type {
        case .latency:
            return [rule(toxic.name, DelayFault(latency: milliseconds("latency"), jitter: milliseconds("jitter"), distribution: .uniform))]
        case .bandwidth:
            let rate = toxic.attribute("rate")
            guard rate > 0 else { return [] }
            // Saturating: a rate above Int64.max / 1000 KB/s is no limit either.
            let (bytes, overflow) = rate.multipliedReportingOverflow(by: 1000)
            let bytesPerSecond = overflow ? Int(Int32.max) : Int(min(bytes, Int64(Int32.max)))
            return [rule(toxic.name, BandwidthFault(bytesPerSecond: bytesPerSecond))]
        case .slowClose:
            guard toxic.attribute("delay") > 0 else { return [] }
            return [rule(toxic.name, SlowCloseFault(delay: milliseconds("delay")))]
        case .noop:
            return []
        case .timeout:
            let timeout = toxic.attribute("timeout")
            // One rule, so one chance decision covers both the silence and the close.
            guard timeout > 0 else { return [rule(toxic.name, BlackholeFault())] }
            return [rule(toxic.name, HangFault(closeAfter: milliseconds("timeout"), close: .fin))]
        case .resetPeer:
            return [rule(toxic.name, SeverFault(mode: .reset, after: milliseconds("timeout")))]
        case .slicer:
            let size = Int(min(max(toxic.attribute("average_size"), 1), Int64(Int32.max)))
            let variation = Int(min(max(toxic.attribute("size_variation"), 0), Int64(Int32.max)))
            let gap = Duration.microseconds(max(0, toxic.attribute("delay")))
            return [rule(toxic.name, SliceFault(size: size, variation: variation, gap: gap))]
        case .limitData:
            let bytes = Int(min(max(toxic.attribute("bytes"), 0), Int64(Int32.max)))
            return [rule(toxic.name, SeverFault(mode: .fin, afterBytes: bytes...bytes))]
        }
    }
}
