import FaultlineTestSupport
import Foundation

/// Waits until the event log at `path` (the binary's, written by its own writer thread)
/// holds at least `count` events of `type`: another process's state, which sends this
/// one no event, so it is looked at every 20 ms (`waitUntil`), for at most `limit`, a
/// bound against a hang. Before a test stops the binary, so nothing it then checks is
/// still on its way.
func waitUntilLogged(_ type: String, count: Int, in path: String, within limit: Duration = .seconds(60)) async throws {
    let needle = "\"type\":\"\(type)\""
    try await waitUntil(within: limit) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
        return text.components(separatedBy: needle).count - 1 >= count
    }
}
