import FaultlineCore
@testable import FaultlineProxy
import NIOCore
import NIOEmbedded
import Testing

/// Fault times add up without trapping: the longest gap a profile takes (7 days)
/// between the bytes of a 400 KB write is past Int64 nanoseconds, and so is copy 8 of a
/// duplicate built with a longer gap. A trial crashed the proxy (SIGILL) with `slice`
/// `size: 1, gap: 40h` and a 400 KB send, which profiles then accepted.
struct SaturatingTimeTests {
    @Test(arguments: [
        "  - {name: drip, fault: {kind: slice, size: 1, gap: 168h}}\n",
        "  - {name: drip, fault: {kind: slice, size: 2, size_variation: 1, gap: 168h}}\n",
        "  - {name: drip, fault: {kind: slice, size: 1, gap: 168h}}\n  - {name: slow, fault: {kind: bandwidth, bytes_per_second: 1}}\n",
    ])
    func aLongGapOverABigWriteSaturates(rules: String) throws {
        let s = try FaultStageTests.setup(rules)
        try s.channel.writeInbound(ByteBuffer(repeating: UInt8(ascii: "m"), count: 400_000))
        // A second write queues behind the first, whose end is past Int64.
        try s.channel.writeInbound(ByteBuffer(repeating: UInt8(ascii: "n"), count: 400_000))
        // One piece at once, the next a gap later (1 to 3 bytes with a size variation).
        for _ in 0..<2 {
            let writes = try s.writes()
            #expect(writes.count == 1 && writes.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0 == "m" } }, "\(writes)")
            s.advance(.hours(168))
        }
    }

    @Test func timeAmountArithmeticSaturates() {
        #expect(TimeAmount.hours(168).times(400_000) == .longest)
        #expect(TimeAmount.hours(168).times(8) == .nanoseconds(8 * 168 * 3_600 * 1_000_000_000))
        #expect(TimeAmount.longest.adding(.nanoseconds(1)) == .longest)
        #expect(TimeAmount.nanoseconds(.min).adding(.nanoseconds(-1)) == .nanoseconds(.min))
        #expect(TimeAmount.seconds(1).adding(.seconds(2)) == .seconds(3))
        #expect(TimeAmount.nanoseconds(-5).times(Int.max) == .nanoseconds(.min))
    }
}
