import FaultlineCore
import Foundation

/// The event sink of replay's own proxy (SR-05): it hands over the reply the proxy
/// dropped, bytes and all, so the retry's answer can be compared with it, and tells
/// replay the moment the drop happened instead of making it wait out a timeout.
final class DropWatch: EventSink {
    private let continuation: AsyncStream<Event>.Continuation
    private let stream: AsyncStream<Event>

    init() {
        (self.stream, self.continuation) = AsyncStream<Event>.makeStream()
    }

    func record(_ event: consuming Event) {
        guard event.direction == .downstream, event.type == .message || event.type == .fault else { return }
        self.continuation.yield(event)
    }

    /// The dropped reply's bytes once the proxy dropped a reply (empty when its payload
    /// was not seen), or nil when `limit` passed first.
    func droppedReply(within limit: Duration) async -> [UInt8]? {
        let stream = self.stream
        return await withTaskGroup(of: [UInt8]?.self) { group in
            group.addTask {
                var last: [UInt8] = []
                for await event in stream {
                    if event.type == .message {
                        last = event.payload.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? []
                    } else if event.kind == "drop" {
                        return last
                    }
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    func finish() {
        self.continuation.finish()
    }
}
