import Foundation

/// Runs `body` on a thread of its own and suspends until it returns.
///
/// Swift Testing runs every test on Swift's cooperative pool, which has one thread per
/// core: two here. Work that blocks (a socket read, a wait) or computes for seconds
/// without suspending holds one of them all that time, and every other test's servers,
/// clients and timeouts wait behind it. In full runs that once stalled a proxy test for
/// 30 seconds while a checker test computed and a test server counted bytes. Such work
/// belongs here. `#expect` does not reach its test from this thread: return what to
/// check, and check it after.
package func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
