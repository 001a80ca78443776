import FaultlineCore
import Testing

/// The hold queue both transports' `reorder` uses: pure counting, no clock.
struct HoldQueueTests {
    /// Passes `units` through: a unit in `hold` is held until `after` later ones passed;
    /// returns the order they leave in (what is still held leaves at the end).
    static func run(_ units: [Int], hold: Set<Int>, after: Int?) -> [Int] {
        var queue = HoldQueue<Int>()
        var out: [Int] = []
        for unit in units {
            if hold.contains(unit) {
                queue.hold(after: after) { _ in unit }
                continue
            }
            out.append(unit)
            queue.pass()
            while let due = queue.takeDue() { out.append(due.item) }
        }
        return out + queue.takeAll().map(\.item)
    }

    @Test func aHeldUnitLeavesAfterTheNextN() {
        #expect(Self.run([1, 2, 3, 4, 5], hold: [2], after: 2) == [1, 3, 4, 2, 5])
        #expect(Self.run([1, 2, 3, 4, 5], hold: [2, 3], after: 1) == [1, 4, 2, 3, 5])
        // Only a time limit: nothing but the end releases it here.
        #expect(Self.run([1, 2, 3], hold: [1], after: nil) == [2, 3, 1])
    }

    @Test func entriesAreTakenByIdAndCountWhatPassed() throws {
        var queue = HoldQueue<String>()
        let first = queue.hold(after: 3) { "a\($0)" }
        let second = queue.hold(after: 1) { "b\($0)" }
        queue.pass()
        let taken = queue.takeDue()
        let due = try #require(taken)
        #expect(due.id == second && due.item == "b1" && due.passed == 1)
        let byID = queue.take(id: first)
        #expect(byID?.item == "a0")
        let none = queue.takeFirst()
        #expect(queue.isEmpty && none == nil)
    }
}
