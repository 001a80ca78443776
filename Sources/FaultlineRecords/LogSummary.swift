import FaultlineCore

/// What `faultline log summary` reports: the run at a glance, computed from its events.
///
/// Durations come from the monotonic `mono` stamps (`conn_open` to `conn_close`), so
/// wall-clock steps during a run cannot distort them.
package struct LogSummary: Sendable, Equatable {
    package struct RuleCount: Sendable, Equatable {
        package var rule: String
        package var kind: String
        package var count: Int
        package var bytes: Int
    }

    package var events = 0
    package var proxies: [String] = []
    package var seeds: [UInt64] = []
    package var connections = 0
    /// Clients a `refuse` rule turned away: never let in, so not connections.
    package var refused = 0
    package var closeReasons: [String: Int] = [:]
    package var upstreamErrors = 0
    package var framingFallbacks = 0
    package var messages: [Event.Direction: Int] = [:]
    package var messageBytes: [Event.Direction: Int] = [:]
    package var faults: [RuleCount] = []
    package var bytesFromClient = 0
    package var bytesToUpstream = 0
    package var bytesFromUpstream = 0
    package var bytesToClient = 0
    package var droppedUpstream = 0
    package var droppedDownstream = 0
    package var duplicatedUpstream = 0
    package var duplicatedDownstream = 0
    /// Copies of duplicated TCP requests (`duplicate_reply`): sent (with their bytes,
    /// which the connections' `duplicated_upstream` add up to) and never sent.
    package var copiesSent = 0
    package var copyBytesSent = 0
    package var copiesNotSent = 0
    /// Connection lifetimes (`conn_open` to `conn_close`).
    package var durations = Durations()
    package var firstTime: String?
    package var lastTime: String?
    package var logDropped = 0
    /// Packets the `--pcap` capture did not write (`capture_dropped`).
    package var captureDropped = 0
    /// Filled by `finish()`.
    package var accounting: [Accounting.Violation] = []

    private struct ConnectionKey: Hashable, Sendable {
        var proxy: String
        var connection: UInt64
    }

    /// `mono` of each open connection's `conn_open`, forgotten at its `conn_close`.
    private var opens: [ConnectionKey: UInt64] = [:]
    private var ruleIndex: [String: Int] = [:]
    private var ledger = Accounting()

    /// An empty summary: `add` each event in log order, then `finish()`.
    ///
    /// It keeps totals and the connections still open, never the events, so
    /// `faultline log summary` reads a log of any length in the same memory.
    package init() {}

    /// The summary of `events`, finished.
    package init(events: [Event]) {
        self.init()
        for event in events { self.add(event) }
        self.finish()
    }

    /// Counts one event.
    package mutating func add(_ event: Event) {
        self.events += 1
        if let time = event.time {
            if self.firstTime == nil { self.firstTime = time }
            self.lastTime = time
        }
        self.ledger.add(event)
        switch event.type {
        case .proxyStart:
            if let proxy = event.proxy, !self.proxies.contains(proxy) { self.proxies.append(proxy) }
            if let seed = event.seed { self.seeds.append(seed) }
        case .connectionOpen:
            self.connections += 1
            if let mono = event.mono { self.opens[ConnectionKey(proxy: event.proxy ?? "", connection: event.conn ?? 0)] = mono }
        case .connectionClose:
            self.closeReasons[event.reason ?? "unknown", default: 0] += 1
            self.bytesFromClient.addSaturating(event.bytesFromClient)
            self.bytesToUpstream.addSaturating(event.bytesToUpstream)
            self.bytesFromUpstream.addSaturating(event.bytesFromUpstream)
            self.bytesToClient.addSaturating(event.bytesToClient)
            self.droppedUpstream.addSaturating(event.droppedUpstream)
            self.droppedDownstream.addSaturating(event.droppedDownstream)
            self.duplicatedUpstream.addSaturating(event.duplicatedUpstream)
            self.duplicatedDownstream.addSaturating(event.duplicatedDownstream)
            let key = ConnectionKey(proxy: event.proxy ?? "", connection: event.conn ?? 0)
            if let start = self.opens.removeValue(forKey: key), let end = event.mono, end >= start {
                self.durations.add(end - start)
            }
        case .message:
            let direction = event.direction ?? .upstream
            self.messages[direction, default: 0] += 1
            self.messageBytes[direction, default: 0].addSaturating(event.bytes)
        case .fault:
            // A held message let go (a reorder's `released`) is the same fault's second
            // event, not another fault: counted once, as check retries counts it.
            if event.action == "released" { break }
            if event.isRefusal { self.refused += 1 }
            let rule = event.rule ?? "(unnamed)"
            let index: Int
            if let known = self.ruleIndex[rule] {
                index = known
            } else {
                index = self.faults.count
                self.faults.append(RuleCount(rule: rule, kind: event.kind ?? "?", count: 0, bytes: 0))
                self.ruleIndex[rule] = index
            }
            self.faults[index].count += 1
            self.faults[index].bytes.addSaturating(event.bytes)
        case .duplicateReply:
            if event.params?["sent"] == "false" {
                self.copiesNotSent += 1
            } else {
                self.copiesSent += 1
                self.copyBytesSent.addSaturating(event.params?["request_bytes"].flatMap { Int($0) })
            }
        case .upstreamError:
            self.upstreamErrors += 1
        case .framingFallback:
            self.framingFallbacks += 1
        case .logDropped:
            self.logDropped.addSaturating(event.count)
        case .captureDropped:
            self.captureDropped.addSaturating(event.count)
        default:
            break
        }
    }

    /// Closes the books: fills `accounting` (a connection still open now was never closed).
    package mutating func finish() {
        self.accounting = self.ledger.finish()
    }

    /// The report for people, one fact per line.
    package var text: String {
        var lines: [String] = []
        lines.append("events:       \(self.events)" + (self.firstTime.map { " from \($0) to \(self.lastTime ?? $0)" } ?? ""))
        if !self.proxies.isEmpty { lines.append("proxies:      \(self.proxies.joined(separator: ", "))") }
        if !self.seeds.isEmpty { lines.append("seed:         \(self.seeds.map(String.init).joined(separator: ", "))") }
        let reasons = self.closeReasons.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        lines.append(
            "connections:  \(self.connections)" + (reasons.isEmpty ? "" : " (\(reasons))")
                + (self.refused > 0 ? "; \(RefuseFault.refused(self.refused))" : "")
        )
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
        if self.copiesSent + self.copiesNotSent > 0 {
            lines.append(
                "copies:       \(self.copiesSent) sent (\(self.copyBytesSent) bytes), \(self.copiesNotSent) not sent"
            )
        }
        if let min = self.durations.min, let median = self.durations.median, let max = self.durations.max {
            lines.append(
                "durations:    min \(Self.format(min)), median \(self.durations.isExact ? "" : "~")\(Self.format(median)), "
                    + "max \(Self.format(max))"
            )
        } else {
            lines.append("durations:    none recorded")
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
        } else if self.logDropped > 0 {
            // A lost conn_close reads as a connection never closed: not called a violation.
            lines.append("accounting:   not checked, as the log lost events; as read, \(counted(self.accounting.count, "entry", plural: "entries")) out of balance:")
            lines.append(contentsOf: self.accounting.map { "  \($0)" })
        } else {
            lines.append("accounting:   \(counted(self.accounting.count, "violation")):")
            lines.append(contentsOf: self.accounting.map { "  \($0)" })
        }
        return lines.joined(separator: "\n")
    }

    private static func format(_ nanoseconds: UInt64) -> String {
        DurationText.format(.nanoseconds(Int64(clamping: nanoseconds)))
    }
}

extension LogSummary {
    /// Connection lifetimes in nanoseconds, in bounded memory: min, max and count are
    /// exact; the median is exact up to `exactLimit` connections and, past that, read
    /// from a log-linear histogram (1024 buckets per power of two, so within 0.1 %).
    ///
    /// The summary prints only these aggregates, so a log of a million connections
    /// need not keep a million lifetimes.
    package struct Durations: Sendable, Equatable {
        /// Up to this many lifetimes are kept as they are.
        package static let exactLimit = 65_536
        /// Sub-buckets per power of two, as a shift: 2^10.
        static let precisionBits = 10

        package private(set) var count = 0
        package private(set) var min: UInt64?
        package private(set) var max: UInt64?
        private var samples: [UInt64] = []
        /// Counts by bucket, once there were more than `exactLimit` lifetimes.
        private var histogram: [UInt32: Int] = [:]

        package init() {}

        /// True while the median is the exact middle lifetime.
        package var isExact: Bool { self.histogram.isEmpty }

        package mutating func add(_ nanoseconds: UInt64) {
            self.count += 1
            self.min = Swift.min(self.min ?? nanoseconds, nanoseconds)
            self.max = Swift.max(self.max ?? nanoseconds, nanoseconds)
            if self.isExact, self.samples.count < Self.exactLimit {
                self.samples.append(nanoseconds)
                return
            }
            if self.isExact {
                for sample in self.samples { self.histogram[Self.bucket(sample), default: 0] += 1 }
                self.samples = []
            }
            self.histogram[Self.bucket(nanoseconds), default: 0] += 1
        }

        /// The middle lifetime (the upper middle of an even count), approximate past
        /// `exactLimit` (the middle of its bucket, clamped to min and max).
        package var median: UInt64? {
            guard self.count > 0 else { return nil }
            if self.isExact {
                return self.samples.sorted()[self.count / 2]
            }
            var seen = 0
            for (bucket, count) in self.histogram.sorted(by: { $0.key < $1.key }) {
                seen += count
                if seen > self.count / 2 {
                    let (low, high) = Self.range(bucket)
                    let middle = low + (high - low) / 2
                    return Swift.min(Swift.max(middle, self.min ?? middle), self.max ?? middle)
                }
            }
            return self.max
        }

        /// Below 2^precisionBits a value is its own bucket; above, the bucket is the
        /// power of two and the next `precisionBits` bits below the leading one.
        static func bucket(_ value: UInt64) -> UInt32 {
            let subBuckets = UInt64(1) << Self.precisionBits
            if value < subBuckets { return UInt32(value) }
            let shift = (63 - value.leadingZeroBitCount) - Self.precisionBits
            let mantissa = (value >> UInt64(shift)) - subBuckets  // 0..<subBuckets
            return UInt32(shift + 1) << UInt32(Self.precisionBits) | UInt32(mantissa)
        }

        /// The values a bucket holds, inclusive.
        static func range(_ bucket: UInt32) -> (UInt64, UInt64) {
            let subBuckets = UInt64(1) << Self.precisionBits
            let shift = Int(bucket >> UInt32(Self.precisionBits))
            if shift == 0 { return (UInt64(bucket), UInt64(bucket)) }
            let mantissa = UInt64(bucket) & (subBuckets - 1)
            let low = (subBuckets + mantissa) << UInt64(shift - 1)
            let width = UInt64(1) << UInt64(shift - 1)
            return (low, low &+ (width - 1))
        }
    }
}

extension Int {
    /// Adds a count read from a log, held at `Int.max` or `Int.min` instead of trapping:
    /// a damaged or hostile log may carry any number, and a summary must not crash on it.
    mutating func addSaturating(_ value: Int?) {
        let (sum, overflow) = self.addingReportingOverflow(value ?? 0)
        self = overflow ? ((value ?? 0) > 0 ? .max : .min) : sum
    }
}
