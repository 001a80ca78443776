import Testing

@testable import FaultlineReplay

/// Numbers from the service under test (a state probe's readings) that no Int holds are
/// "cannot say", not a trap: a probe whose balance went from 1 to 1e300 crashed
/// `check idempotency` converting the ratio to Int.
struct HugeNumberTests {
    @Test func aRatioNoIntHoldsIsNoCount() {
        #expect(StateSnapshot.effects(total: [1e300], unit: [1]) == nil)
        #expect(StateSnapshot.effects(total: [9.3e18], unit: [1]) == nil)
        #expect(StateSnapshot.effects(total: [4e18], unit: [1]) == 4_000_000_000_000_000_000)
    }
}
