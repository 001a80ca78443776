@testable import FaultlineReplay
import Testing

/// When numbers in replies count effects: one steady step from reply to reply.
struct SteadyStepTests {
    @Test func aCounterMovesBySteadySteps() {
        #expect(OperationExperiment.steadySteps([[10], [11], [12]]) == [0: 1])
        #expect(OperationExperiment.steadySteps([[300, 7], [200, 7], [100, 7]]) == [0: -100])
    }

    /// A decimal balance moving by 0.1 is steady, whatever binary doubles make of it.
    @Test func decimalAmountsAreSteady() {
        #expect(OperationExperiment.steadySteps([[110.1], [110.2], [110.3]]).keys.sorted() == [0])
    }

    /// A clock moves by whatever time passed: no step, no evidence.
    @Test func aClockIsNotSteady() {
        #expect(OperationExperiment.steadySteps([[11_496_449], [11_496_450], [11_496_450]]).isEmpty)
        #expect(OperationExperiment.steadySteps([[5], [9], [10]]).isEmpty)
    }

    /// Replies to requests sent at once arrive in any order: sorted first.
    @Test func concurrentRepliesAreSorted() {
        #expect(OperationExperiment.steadySteps([[12], [10], [11]]).isEmpty)
        #expect(OperationExperiment.steadySteps([[12], [10], [11]], sorted: true) == [0: 1])
    }

    /// Two replies, or replies of different shapes, show no step.
    @Test func tooFewOrMismatchedRepliesShowNoStep() {
        #expect(OperationExperiment.steadySteps([[10], [11]]).isEmpty)
        #expect(OperationExperiment.steadySteps([[10], [11, 3], [12]]).isEmpty)
    }
}
