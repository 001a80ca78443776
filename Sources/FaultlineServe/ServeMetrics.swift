import CoreMetrics
import FaultlineHost
import Prometheus
import Synchronization

/// The server's Prometheus figures: per proxy, connections open and total, messages,
/// bytes forwarded each way (as they go, open connections included), upstream errors, faults
/// injected by rule and kind, events the log and packets the capture could not keep up
/// with; and API requests by status.
///
/// Proxy figures are read from each proxy's tally when `/metrics` is scraped (the proxies
/// count with relaxed atomics on their own loops; nothing is added to their data path)
/// and handed to swift-metrics: gauges are set, counters advance by what happened since
/// the last scrape. Metrics are made once per label set and kept.
package final class ServeMetrics: Sendable {
    package let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    /// Last counts seen, by counter key, so counters advance by the difference.
    private let seen = Mutex<[String: Int]>([:])
    /// Proxies given gauges so far: those since deleted have theirs taken out.
    private let gauged = Mutex<Set<String>>([])

    package init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
    }

    /// One API request answered.
    func requestServed(api: String, status: Int) {
        Counter(label: "faultline_api_requests_total", dimensions: [("api", api), ("status", String(status))], factory: self.factory).increment()
    }

    /// Reads every running proxy's figures into the registry. A disabled proxy has no
    /// connections open; a deleted one's gauges are taken out (its counters stay, and go
    /// on should a proxy of that name be created again).
    func refresh(from store: ProxyStore) async {
        let (running, names) = await store.forMetrics
        let gone = self.gauged.withLock { gauged in
            let gone = gauged.subtracting(names)
            gauged = names
            return gone
        }
        for name in gone {
            for label in ["faultline_connections_open", "faultline_plan_version"] {
                Gauge(label: label, dimensions: [("proxy", name)], factory: self.factory).destroy()
            }
        }
        for name in names where !running.contains(where: { $0.name == name }) {
            Gauge(label: "faultline_connections_open", dimensions: [("proxy", name)], factory: self.factory).record(0)
        }
        for (name, proxy, kinds, plan) in running {
            Gauge(label: "faultline_connections_open", dimensions: [("proxy", name)], factory: self.factory).record(proxy.open)
            Gauge(label: "faultline_plan_version", dimensions: [("proxy", name)], factory: self.factory).record(Int(plan))
            self.advance("faultline_log_dropped_total", [("proxy", name)], to: proxy.droppedEvents, run: ObjectIdentifier(proxy))
            self.advance("faultline_capture_dropped_total", [("proxy", name)], to: proxy.captureCounts?.dropped ?? 0, run: ObjectIdentifier(proxy))
            let bytes = proxy.bytesForwarded
            self.advance("faultline_bytes_forwarded_total", [("proxy", name), ("direction", "upstream")], to: bytes.upstream, run: ObjectIdentifier(proxy))
            self.advance("faultline_bytes_forwarded_total", [("proxy", name), ("direction", "downstream")], to: bytes.downstream, run: ObjectIdentifier(proxy))
            guard let counts = proxy.tally?.counts else { continue }
            self.advance("faultline_connections_total", [("proxy", name)], to: counts.connections, run: ObjectIdentifier(proxy))
            self.advance("faultline_messages_total", [("proxy", name)], to: counts.messages, run: ObjectIdentifier(proxy))
            self.advance("faultline_upstream_errors_total", [("proxy", name)], to: counts.upstreamErrors, run: ObjectIdentifier(proxy))
            for (rule, count) in counts.faultsByRule {
                // The proxy counts faults by rule name: the step goes to the rule's kind
                // now (a name given to a rule of another kind counts on under that kind).
                let kind = kinds[rule] ?? "unknown"
                self.advance(
                    "faultline_faults_injected_total", [("proxy", name), ("rule", rule), ("kind", kind)], to: count, run: ObjectIdentifier(proxy),
                    countedBy: [("proxy", name), ("rule", rule)]
                )
            }
        }
    }

    /// The Prometheus text exposition.
    package func text() -> String {
        self.registry.emitToString()
    }

    /// Moves a counter up to `total`, the running proxy's own count; a proxy started
    /// again counts from zero, and its first figures add on. `countedBy` names the
    /// dimensions the proxy's count is kept by, when fewer than the counter's.
    private func advance(
        _ label: String, _ dimensions: [(String, String)], to total: Int, run: ObjectIdentifier, countedBy: [(String, String)]? = nil
    ) {
        let key = label + (countedBy ?? dimensions).map { "|\($0.0)=\($0.1)" }.joined()
        let step = self.seen.withLock { seen -> Int in
            let runKey = key + "#run"
            let last: Int
            if seen[runKey] == run.hashValue {
                last = seen[key] ?? 0
            } else {
                last = 0
                seen[runKey] = run.hashValue
            }
            seen[key] = total
            return max(0, total - last)
        }
        // Made even at zero, so a scrape lists every series from the proxy's start.
        let counter = Counter(label: label, dimensions: dimensions, factory: self.factory)
        if step > 0 { counter.increment(by: step) }
    }
}
