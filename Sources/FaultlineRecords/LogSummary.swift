import FaultlineCore

/// What `faultline log summary` reports: the run at a glance, computed from its events.
///
/// Durations come from the monotonic `mono` stamps (`conn_open` to `conn_close`), so
/// wall-clock steps during a run cannot distort them.
public struct LogSummary: Sendable, Equatable {
    public struct RuleCount: Sendable, Equatable {
        public var rule: String
        public var kind: String
        public var count: Int
        public var bytes: Int
    }

    public var events = 0
    public var proxies: [String] = []
    public var seeds: [UInt64] = []
    public var connections = 0
    public var closeReasons: [String: Int] = [:]
    public var upstreamErrors = 0
    public var framingFallbacks = 0
    public var messages: [Event.Direction: Int] = [:]
    public var messageBytes: [Event.Direction: Int] = [:]
    public var faults: [RuleCount] = []
    public var bytesFromClient = 0
    public var bytesToUpstream = 0
    public var bytesFromUpstream = 0
    public var bytesToClient = 0
    public var droppedUpstream = 0
    public var droppedDownstream = 0
    public var duplicatedUpstream = 0
    public var duplicatedDownstream = 0
    /// Connection lifetimes in nanoseconds, shortest first.
    public var durations: [UInt64] = []
    public var firstTime: String?
    public var lastTime: String?
    public var logDropped = 0
    /// Packets the `--pcap` capture did not write (`capture_dropped`).
    public var captureDropped = 0
    public var accounting: [Accounting.Violation] = []

    public init(events: [Event]) {
        var opens: [String: UInt64] = [:]
        var ruleIndex: [String: Int] = [:]
        self.events = events.count
        for event in events {
            if let time = event.time {
                if self.firstTime == nil { self.firstTime = time }
                self.lastTime = time
            }
            let connectionKey = "\(event.proxy ?? "")#\(event.conn ?? 0)"
            switch event.type {
            case .proxyStart:
                if let proxy = event.proxy, !self.proxies.contains(proxy) { self.proxies.append(proxy) }
                if let seed = event.seed { self.seeds.append(seed) }
            case .connectionOpen:
                self.connections += 1
                if let mono = event.mono { opens[connectionKey] = mono }
            case .connectionClose:
                self.closeReasons[event.reason ?? "unknown", default: 0] += 1
                self.bytesFromClient += event.bytesFromClient ?? 0
                self.bytesToUpstream += event.bytesToUpstream ?? 0
                self.bytesFromUpstream += event.bytesFromUpstream ?? 0
                self.bytesToClient += event.bytesToClient ?? 0
                self.droppedUpstream += event.droppedUpstream ?? 0
                self.droppedDownstream += event.droppedDownstream ?? 0
                self.duplicatedUpstream += event.duplicatedUpstream ?? 0
                self.duplicatedDownstream += event.duplicatedDownstream ?? 0
                if let start = opens[connectionKey], let end = event.mono, end >= start {
                    self.durations.append(end - start)
                }
            case .message:
                let direction = event.direction ?? .upstream
                self.messages[direction, default: 0] += 1
                self.messageBytes[direction, default: 0] += event.bytes ?? 0
            case .fault:
                let rule = event.rule ?? "(unnamed)"
                let index = ruleIndex[rule] ?? {
                    self.faults.append(RuleCount(rule: rule, kind: event.kind ?? "?", count: 0, bytes: 0))
                    ruleIndex[rule] = self.faults.count - 1
                    return self.faults.count - 1
                }()
                self.faults[index].count += 1
                self.faults[index].bytes += event.bytes ?? 0
            case .upstreamError:
                self.upstreamErrors += 1
            case .framingFallback:
                self.framingFallbacks += 1
            case .logDropped:
                self.logDropped += event.count ?? 0
            case .captureDropped:
                self.captureDropped += event.count ?? 0
            default:
                break
            }
        }
        self.durations.sort()
        self.accounting = Accounting.check(events)
    }

    /// The report for people, one fact per line.
    public var text: String {
        var lines: [String] = []
        lines.append("events:       \(self.events)" + (self.firstTime.map { " from \($0) to \(self.lastTime ?? $0)" } ?? ""))
        if !self.proxies.isEmpty { lines.append("proxies:      \(self.proxies.joined(separator: ", "))") }
        if !self.seeds.isEmpty { lines.append("seed:         \(self.seeds.map(String.init).joined(separator: ", "))") }
        let reasons = self.closeReasons.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        lines.append("connections:  \(self.connections)" + (reasons.isEmpty ? "" : " (\(reasons))"))
        if self.upstreamErrors > 0 { lines.append("upstream errors: \(self.upstreamErrors)") }
        lines.append(
            "messages:     \(self.messages[.upstream] ?? 0) upstream (\(self.messageBytes[.upstream] ?? 0) bytes), "
                + "\(self.messages[.downstream] ?? 0) downstream (\(self.messageBytes[.downstream] ?? 0) bytes)"
        )
        if self.framingFallbacks > 0 { lines.append("framing fallbacks: \(self.framingFallbacks)") }
        lines.append(
            "upstream:     \(self.bytesFromClient) bytes from clients, \(self.bytesToUpstream) forwarded, "
                + "\(self.droppedUpstream) dropped, \(self.duplicatedUpstream) duplicated"
        )
        lines.append(
            "downstream:   \(self.bytesFromUpstream) bytes from upstream, \(self.bytesToClient) forwarded, "
                + "\(self.droppedDownstream) dropped, \(self.duplicatedDownstream) duplicated"
        )
        if self.durations.isEmpty {
            lines.append("durations:    none recorded")
        } else {
            let median = self.durations[self.durations.count / 2]
            lines.append(
                "durations:    min \(Self.format(self.durations.first!)), median \(Self.format(median)), "
                    + "max \(Self.format(self.durations.last!))"
            )
        }
        if self.faults.isEmpty {
            lines.append("faults:       none")
        } else {
            lines.append("faults:       \(self.faults.reduce(0) { $0 + $1.count }) by rule:")
            for fault in self.faults {
                lines.append("  \(fault.rule) (\(fault.kind)): \(fault.count)" + (fault.bytes > 0 ? ", \(fault.bytes) bytes" : ""))
            }
        }
        if self.logDropped > 0 {
            lines.append("WARNING: the log says \(self.logDropped) events were not written (log_dropped)")
        }
        if self.captureDropped > 0 {
            lines.append("WARNING: the packet capture is missing \(self.captureDropped) packets (capture_dropped)")
        }
        if self.accounting.isEmpty {
            lines.append("accounting:   balanced (received = forwarded + dropped on every connection)")
        } else {
            lines.append("accounting:   \(self.accounting.count) violations:")
            lines.append(contentsOf: self.accounting.map { "  \($0)" })
        }
        return lines.joined(separator: "\n")
    }

    private static func format(_ nanoseconds: UInt64) -> String {
        DurationText.format(.nanoseconds(Int64(clamping: nanoseconds)))
    }
}
