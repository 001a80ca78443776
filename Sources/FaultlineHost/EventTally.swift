import FaultlineCore
import Synchronization

/// Counts what a proxy has done so far, for progress lines and summaries, and passes
/// every event on to the real sink.
///
/// Counting is a few relaxed atomic adds per event, on the event loop that records it;
/// nothing is kept but the counts.
package final class EventTally: EventSink {
    /// The counts at one moment.
    package struct Counts: Sendable, Equatable {
        package var connections = 0
        /// Clients a `refuse` rule turned away (`Event.isRefusal`): never let in, so not
        /// in `connections`, as `log summary` counts them.
        package var refused = 0
        package var messages = 0
        /// Messages from clients to the upstream (`message` events going upstream): the
        /// requests a replay could resend.
        package var requests = 0
        package var faults = 0
        /// Bytes delivered to the upstream and to clients, counted when each connection
        /// closes (from `conn_close`), so a connection still open is not in them yet.
        package var bytesToUpstream = 0
        package var bytesToClient = 0
        /// Failures dialling or talking to the upstream (`upstream_error`).
        package var upstreamErrors = 0
        /// Faults by rule name, in the order rules first fired.
        package var faultsByRule: [(rule: String, count: Int)] = []

        package init() {}

        package static func == (lhs: Counts, rhs: Counts) -> Bool {
            lhs.connections == rhs.connections && lhs.refused == rhs.refused && lhs.messages == rhs.messages && lhs.requests == rhs.requests
                && lhs.faults == rhs.faults
                && lhs.bytesToUpstream == rhs.bytesToUpstream && lhs.bytesToClient == rhs.bytesToClient
                && lhs.upstreamErrors == rhs.upstreamErrors
                && lhs.faultsByRule.map(\.rule) == rhs.faultsByRule.map(\.rule)
                && lhs.faultsByRule.map(\.count) == rhs.faultsByRule.map(\.count)
        }
    }

    private let next: any EventSink
    private let connections = Atomic<Int>(0)
    private let refused = Atomic<Int>(0)
    private let messages = Atomic<Int>(0)
    private let requests = Atomic<Int>(0)
    private let faults = Atomic<Int>(0)
    private let bytesToUpstream = Atomic<Int>(0)
    private let bytesToClient = Atomic<Int>(0)
    private let upstreamErrors = Atomic<Int>(0)
    /// Rule names are few (a profile's rules), so a lock here is rare and short.
    private let byRule = Mutex<[(rule: String, count: Int)]>([])

    package init(passingTo next: any EventSink) {
        self.next = next
    }

    package func record(_ event: consuming Event) {
        switch event.type {
        case .connectionOpen: self.connections.add(1, ordering: .relaxed)
        case .message:
            self.messages.add(1, ordering: .relaxed)
            if event.direction == .upstream { self.requests.add(1, ordering: .relaxed) }
        case .connectionClose:
            self.bytesToUpstream.add(event.bytesToUpstream ?? 0, ordering: .relaxed)
            self.bytesToClient.add(event.bytesToClient ?? 0, ordering: .relaxed)
        case .upstreamError: self.upstreamErrors.add(1, ordering: .relaxed)
        case .fault:
            // A held request that goes on is logged again as `released`: one fault.
            if event.action != "released" {
                self.faults.add(1, ordering: .relaxed)
                if event.isRefusal { self.refused.add(1, ordering: .relaxed) }
                let rule = event.rule ?? "(unnamed)"
                self.byRule.withLock { counts in
                    if let index = counts.firstIndex(where: { $0.rule == rule }) {
                        counts[index].count += 1
                    } else {
                        counts.append((rule, 1))
                    }
                }
            }
        default: break
        }
        self.next.record(event)
    }

    package var counts: Counts {
        var counts = Counts()
        counts.connections = self.connections.load(ordering: .relaxed)
        counts.refused = self.refused.load(ordering: .relaxed)
        counts.messages = self.messages.load(ordering: .relaxed)
        counts.requests = self.requests.load(ordering: .relaxed)
        counts.faults = self.faults.load(ordering: .relaxed)
        counts.bytesToUpstream = self.bytesToUpstream.load(ordering: .relaxed)
        counts.bytesToClient = self.bytesToClient.load(ordering: .relaxed)
        counts.upstreamErrors = self.upstreamErrors.load(ordering: .relaxed)
        counts.faultsByRule = self.byRule.withLock { $0 }
        return counts
    }
}
