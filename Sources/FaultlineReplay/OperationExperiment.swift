import FaultlineChecker
import Foundation

/// The experiments on one operation, their rule results and findings, and the
/// operation's classification.
///
/// Each experiment takes a fresh key (where the request carries one), so no
/// experiment's requests are duplicates of another's; the state probes are read before
/// and after, and the verdict is made from the probe (a number that moved, or the
/// reply's bytes) or, without a probe, from the replies (resource ids, counters).
struct OperationExperiment {
    let check: IdempotencyCheck
    let request: RecordedRequest
    let http: HTTPRequestBytes?
    let keyed: Bool

    var rules: [CheckReport.RuleResult] = []
    var findings: [CheckReport.Finding] = []
    /// The state change one application makes (numeric probes), from SR-01's first send.
    var unitDelta: [Double]?
    /// Whether the first application changed anything the check could see.
    var firstEffect: Bool?
    /// The experiments (SR-01, SR-04, SR-05) that showed a duplicate applied.
    var extraEffects: Set<String> = []
    /// Whether the replies or probes gave anything to compare at all.
    var observable = false
    var stoppedAt: String?
    var inconclusive: [String] = []
    /// SR-01's sends: SR-02 compares their replies instead of sending more duplicates.
    var sr01: [SentRequest] = []
    /// SR-01's replies: for each position of a number that moved by one steady step
    /// from repeat to repeat, that step (see `repliesShowExtraEffect`).
    var replySteps: [Int: Double] = [:]
    /// Set when the replayed request itself fails (HTTP 4xx or 5xx, a RESP error):
    /// there is no effect to deduplicate, so "idempotent" would say nothing.
    var requestFails: String?

    init(check: IdempotencyCheck, request: RecordedRequest) {
        self.check = check
        self.request = request
        self.http = request.wire == .http ? HTTPRequestBytes(request.bytes) : nil
        self.keyed = check.isKeyed(request)
    }

    var operation: String { self.request.operation }
    var options: IdempotencyCheckOptions { self.check.options }
    var dryRun: Bool { self.options.dryRun }

    mutating func run() async {
        let experiments: [(ServiceRule, (inout OperationExperiment) async throws -> Void)] = [
            (.duplicateChangesState, { try await $0.duplicates() }),
            (.replayMismatch, { $0.replayMismatch() }),
            (.payloadMismatchAccepted, { try await $0.changedPayload() }),
            (.concurrentDuplicate, { try await $0.concurrentDuplicates() }),
            (.ambiguousThenRetry, { try await $0.lostReplyThenRetry() }),
            (.missingKeyNotRejected, { try await $0.missingKey() }),
        ]
        for (rule, experiment) in experiments {
            if let stoppedAt = self.stoppedAt {
                self.rules.append(rule.result(.notEnoughEvidence, operation: self.operation, evidence: "not run: the target stopped answering (\(stoppedAt))"))
                continue
            }
            do {
                try await experiment(&self)
            } catch let stop as TargetStopped {
                self.stoppedAt = stop.reason
                self.rules.append(rule.result(.notEnoughEvidence, operation: self.operation, evidence: "the target stopped answering: \(stop.reason)"))
            } catch {
                self.stoppedAt = "\(error)"
                self.rules.append(rule.result(.notEnoughEvidence, operation: self.operation, evidence: "could not run: \(error)"))
            }
        }
    }

    // MARK: Requests

    /// The recorded request with a fresh key (if it carries one): `faultline-sr01-<uuid>`,
    /// quoted if the recorded value was (an RFC 8941 sf-string).
    func withFreshKey(_ experiment: String) -> [UInt8] {
        guard self.keyed, let http = self.http, let recorded = http.header(self.options.keyHeader) else { return self.request.bytes }
        let key = "faultline-\(experiment)-\(UUID().uuidString.lowercased())"
        return http.settingHeader(self.options.keyHeader, to: recorded.hasPrefix("\"") ? "\"\(key)\"" : key).bytes
    }

    func view(_ sent: SentRequest) -> ReplyView? {
        sent.reply.map { ReplyView($0, wire: self.request.wire, ignoring: self.options.ignorePaths) }
    }

    func progress(_ rule: ServiceRule, _ text: String) {
        self.check.progress("faultline: \(rule.id) \(self.operation): \(text)")
    }

    mutating func record(
        _ rule: ServiceRule, _ status: CheckReport.RuleResult.Status, evidence: String, samples: Int,
        finding: (severity: Severity, message: String)? = nil, sent: [SentRequest] = [], severity ruleSeverity: Severity? = nil
    ) {
        let severity = finding?.severity ?? ruleSeverity ?? rule.severity
        // A body that could not be de-chunked or decoded was compared as received: say so
        // (SR-02 compares SR-01's replies, so it takes their notes).
        let compared = rule.id == ServiceRule.replayMismatch.id ? self.sr01 : sent
        var notes = self.check.takeBodyNotes()
        for note in compared.compactMap(\.reply?.note) where !notes.contains(note) { notes.append(note) }
        let noted = notes.isEmpty ? "" : "; note: \(notes.joined(separator: "; "))"
        let evidence = evidence + noted
        self.rules.append(rule.result(status, operation: self.operation, evidence: evidence, samples: samples, severity: severity))
        if let finding {
            var item = CheckReport.Finding(
                rule: rule.id, name: rule.name, severity: finding.severity, operation: self.operation,
                message: finding.message + noted, fix: rule.fix, requests: sent.map(\.line)
            )
            item.exchanges = sent.map(\.evidence)
            self.findings.append(item)
        }
        self.progress(rule, "\(status.rawValue): \(evidence)")
    }

    /// Whether the replies show more than one effect: different resource ids, or a
    /// number that counts effects (in the body, a RESP integer). Only successful replies
    /// count (HTTP 2xx; every RESP reply but an error).
    ///
    /// A number counts effects only when it moves by one steady step from reply to
    /// reply (a counter, a balance, a list's length: INCR's 10, 11, 12), in the order
    /// sent, or, for replies to requests sent at once (`concurrent`), which arrive in
    /// any order, over the values sorted. A number that moves
    /// unevenly (an uptime, a clock in milliseconds: 449, 450, 450) is no evidence
    /// either way. Two replies alone cannot show a steady step: they count only when
    /// they move by the step SR-01's repeats showed (`replySteps`).
    func repliesShowExtraEffect(_ views: [ReplyView], concurrent: Bool = false) -> (extra: Bool, observable: Bool, why: String) {
        let successful = Self.successful(views)
        let resources = ResourceName.distinct(successful.compactMap(\.resource))
        if resources.count > 1 {
            return (true, true, "the replies name \(resources.count) different resources (\(resources.map(\.description).joined(separator: ", ")))")
        }
        let numbers = successful.map(\.numbers).filter { !$0.isEmpty }
        let moved = "numbers in the replies moved: \(numbers.map { $0.map(Self.number).joined(separator: ",") }.joined(separator: " → "))"
        if Set(numbers).count > 1 {
            guard Set(numbers.map(\.count)).count == 1 else {
                return (false, false, "the replies carry different sets of numbers, which cannot be compared")
            }
            if numbers.count == 2 {
                // Replies to requests sent at once arrive in any order: the step's size counts.
                let counted = self.replySteps.contains { position, step in
                    guard position < numbers[0].count else { return false }
                    let moved = numbers[1][position] - numbers[0][position]
                    return Self.same(concurrent ? abs(moved) : moved, concurrent ? abs(step) : step)
                }
                return counted
                    ? (true, true, "\(moved), by the step SR-01's repeats moved them")
                    : (false, false, "\(moved), once: two replies cannot tell an effect from a clock")
            }
            if !Self.steadySteps(numbers, sorted: concurrent).isEmpty { return (true, true, "\(moved), by the same step each time") }
            if !concurrent, Self.firstCountedThenNone(numbers) {
                // 1 → 0 → 0 (RESP DEL, PERSIST): the first request counted what it did and
                // the repeats found nothing left, as an idempotent delete answers.
                return (
                    false, false,
                    "\(moved): the first reply counted something and the identical repeats nothing, as an idempotent delete answers; "
                        + "the replies alone cannot show the state, give --probe"
                )
            }
            return (false, false, "\(moved), unevenly: a clock or other traffic, not a count of this request's effects")
        }
        if let resource = resources.first { return (false, true, "every reply names the same resource (\(resource))") }
        if !numbers.isEmpty { return (false, true, "the numbers in the replies did not move") }
        return (false, false, "the replies carry no resource id or number to compare")
    }

    /// For each position where every reply has a number, the step by which its values
    /// move when it is the same non-zero step each time (three or more replies), in
    /// order, or `sorted` first.
    static func steadySteps(_ numbers: [[Double]], sorted: Bool = false) -> [Int: Double] {
        guard numbers.count >= 3, let width = numbers.first?.count, numbers.allSatisfy({ $0.count == width }) else { return [:] }
        var steps: [Int: Double] = [:]
        for position in 0..<width {
            let values = sorted ? numbers.map { $0[position] }.sorted() : numbers.map { $0[position] }
            let step = values[1] - values[0]
            if step != 0, zip(values, values.dropFirst()).allSatisfy({ Self.same($1 - $0, step) }) { steps[position] = step }
        }
        return steps
    }

    /// Whether the replies read like a delete's: every number that moved was positive in
    /// the first reply and 0 in each later one (1 → 0 → 0); nothing else moved.
    static func firstCountedThenNone(_ numbers: [[Double]]) -> Bool {
        guard numbers.count >= 3, let first = numbers.first, numbers.allSatisfy({ $0.count == first.count }) else { return false }
        var moved = false
        for position in first.indices {
            let later = numbers.dropFirst().map { $0[position] }
            if later.allSatisfy({ $0 == first[position] }) { continue }
            guard first[position] > 0, later.allSatisfy({ $0 == 0 }) else { return false }
            moved = true
        }
        return moved
    }

    /// Two steps are the same up to the rounding of decimal amounts (110.1 → 110.2 →
    /// 110.3 moves by 0.1 each time, which binary doubles see as 0.10000000000000853
    /// and 0.09999999999999432).
    static func same(_ a: Double, _ b: Double) -> Bool {
        abs(a - b) <= 1e-9 * max(1, abs(a), abs(b))
    }

    /// Successful replies: HTTP 2xx, and every RESP or line reply (they have no status).
    static func successful(_ views: [ReplyView]) -> [ReplyView] {
        views.filter { ($0.status.map { (200..<300).contains($0) }) ?? true }
    }

    static func number(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Answers compared as `--mode` says.
    func sameAnswer(_ a: ReplyView, _ b: ReplyView) -> (same: Bool, how: String) {
        switch self.options.mode {
        case .strict:
            if a.status != b.status { return (false, "status \(a.status.map(String.init) ?? "-") then \(b.status.map(String.init) ?? "-")") }
            if a.body != b.body { return (false, "bodies differ: \(Self.cut(a.shown)) then \(Self.cut(b.shown))") }
            return (true, "same status and body")
        case .semantic:
            let classA = a.status.map { $0 / 100 }, classB = b.status.map { $0 / 100 }
            if classA != classB { return (false, "status class \(classA.map { "\($0)xx" } ?? "-") then \(classB.map { "\($0)xx" } ?? "-")") }
            if !Self.sameResource(a.resource, b.resource) {
                return (false, "resource \(a.resource?.description ?? "none") then \(b.resource?.description ?? "none")")
            }
            return (true, a.resource.map { "same status class and resource \($0)" } ?? "same status class (no resource id in the replies)")
        }
    }

    /// Whether two replies name one resource (`ResourceName.isSame`); a reply naming
    /// none matches only another naming none.
    static func sameResource(_ a: ResourceName?, _ b: ResourceName?) -> Bool {
        switch (a, b) {
        case (let a?, let b?): a.isSame(as: b)
        case (nil, nil): true
        default: false
        }
    }

    static func cut(_ text: String) -> String {
        text.count > 60 ? String(text.prefix(60)) + "…" : text
    }

    static func status(_ sent: SentRequest) -> String {
        guard let reply = sent.reply else { return sent.failure ?? "no reply" }
        return reply.status.map(String.init) ?? ByteText.firstLine(reply.bytes)
    }
}
