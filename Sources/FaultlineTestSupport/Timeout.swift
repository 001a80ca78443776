import Foundation

/// The guard a test puts around an await that should finish quickly: not a delay, a
/// bound. Throws `TimedOut` if `operation` is still running after `limit`.
package func withTimeout<T: Sendable>(
    _ limit: Duration,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimedOut(limit: limit)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

package struct TimedOut: Error, CustomStringConvertible {
    package var limit: Duration
    package var description: String { "timed out after \(self.limit)" }
}

/// Waits until `condition` holds, looking every 20 ms, for at most `limit`. Only for
/// another process's state, which sends no event to await (a child's log file, its
/// descriptors in `/proc`); anything in this process is awaited as an event.
package func waitUntil(within limit: Duration = .seconds(30), _ condition: @escaping @Sendable () -> Bool) async throws {
    try await withTimeout(limit) {
        while !condition() { try await Task.sleep(for: .milliseconds(20)) }
    }
}

/// Waits until the event log at `path` (another process's) holds an event of `type`.
package func waitUntilLogged(_ type: String, in path: String) async throws {
    let needle = "\"type\":\"\(type)\""
    try await waitUntil { (try? String(contentsOfFile: path, encoding: .utf8))?.contains(needle) ?? false }
}
