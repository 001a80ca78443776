import FaultlineCore
import Foundation

/// The end of the stream: per-client rules on the aggregates, rule verdicts, notes,
/// and the report.
extension RetryChecker {
    /// Finishes every open logical request and writes the report.
    package mutating func finish() -> CheckReport {
        self.sweep(force: true)
        var results: [String: CheckReport.RuleResult] = [:]
        var behaviours: [CheckReport.ClientBehaviour] = []
        var deferredRows: [(Int, String)] = []

        // Per-client rules.
        var cr06 = (judged: 0, immediate: 0, unmeasured: 0, clients: 0, undecided: 0, decided: 0, firstOnly: 0, laterRetries: 0)
        var cr07 = (clients: 0, judged: 0, best: 0)
        var cr08 = (judged: 0, best: 0, bestIndex: 1, passed: 0)
        var cr09 = (gaps: 0, longest: 0.0)
        var cr17 = (clients: 0, requests: 0, attempts: 0, highest: 0.0, best: 0)
        let minShare = self.settings.threshold("CR-06", "max_share", default: 0.2)
        let minGrowth = self.settings.threshold("CR-07", "min_growth", default: 1.3)
        let minLong = Int(self.settings.threshold("CR-07", "min_requests", default: 10))
        let maxCV = self.settings.threshold("CR-08", "max_cv", default: 0.05)
        let minJitterSamples = Int(self.settings.threshold("CR-08", "min_samples", default: 20))
        let maxDelay = self.settings.threshold("CR-09", "max_delay", default: 300e9)
        let maxAttempts = Int(self.settings.threshold("CR-10", "max_attempts", default: Double(self.options.maxAttempts)))
        // CR-17's limit is CR-10's unless set: a client that keeps every request within
        // the attempts CR-10 allows is not a storm, even when every request meets a fault.
        let maxAmplification = self.settings.threshold("CR-17", "max_amplification", default: Double(maxAttempts))
        let minFaultRequests = Int(self.settings.threshold("CR-17", "min_requests", default: 3))

        for (client, aggregate) in self.clients.sorted(by: { $0.key < $1.key }) {
            let profile = Self.profile(of: aggregate, minGapNs: self.minGapNs)
            behaviours.append(Self.behaviour(client: client, aggregate: aggregate, profile: profile, minGapNs: self.minGapNs))
            let sample = aggregate.immediateRequests.first

            func finding(_ id: String, _ severity: Severity, _ message: String, requests: [String], evidence: [CheckReport.AttemptEvidence], operation: String) {
                for request in requests {
                    if let number = Int(request.dropFirst()) { deferredRows.append((number, id)) }
                }
                self.add(
                    CheckReport.Finding(
                        rule: id, name: RetryRule.named(id).name, severity: severity, operation: operation, client: client,
                        message: message, fix: RetryRule.named(id).fix, requests: requests, evidence: evidence
                    ),
                    sortTime: evidence.first?.startNs ?? 0
                )
            }

            // CR-06: immediate retries, at indices where the client's median is immediate.
            let judged = aggregate.judged.values.reduce(0, +), immediate = aggregate.immediate.values.reduce(0, +)
            cr06.judged += judged
            cr06.immediate += immediate
            // A retry whose gap is unknown may have waited: it counts as not immediate.
            let unmeasured = aggregate.unmeasured.values.reduce(0, +)
            cr06.unmeasured += unmeasured
            let immediateIndices = Set(aggregate.judged.compactMap { index, judged in
                let n = judged + aggregate.unmeasured[index, default: 0]
                return n >= 3 && 2 * aggregate.immediate[index, default: 0] > n ? index : nil
            })
            let bursts = aggregate.immediateRequests.filter { $0.indices.filter(immediateIndices.contains).count >= 2 }
            let share = judged > 0 ? Double(immediate) / Double(judged + unmeasured) : 0
            let beyondFirst = immediateIndices.contains { $0 >= 2 }
            let flagged = beyondFirst && (!bursts.isEmpty || share >= minShare)
            // Immediate retries beyond the first at an attempt number with fewer than 3
            // retries: too few to call the client's median there, so neither flagged
            // nor passed.
            if !flagged, aggregate.immediate.contains(where: { index, count in
                index >= 2 && count > 0 && aggregate.judged[index, default: 0] + aggregate.unmeasured[index, default: 0] < 3
            }) {
                cr06.undecided += 1
            } else if !flagged {
                // Judged beyond the first retry (an attempt number from 2 with ≥ 3
                // retries), or waited every time: a pass rests on that. A client whose
                // immediate retries were all first retries (allowed) and that has no
                // such attempt number shows nothing about whether it backs off.
                // (A retry whose gap is unknown but was sent min_gap or more after the
                // attempt before counts at its index as not immediate: evidence too.)
                let judgedBeyondFirst = Set(aggregate.judged.keys).union(aggregate.unmeasured.keys).contains { index in
                    index >= 2 && aggregate.judged[index, default: 0] + aggregate.unmeasured[index, default: 0] >= 3
                }
                if judgedBeyondFirst || (immediate == 0 && judged > 0) {
                    cr06.decided += 1
                } else if immediate > 0 {
                    cr06.firstOnly += 1
                    cr06.laterRetries += aggregate.judged.filter { $0.key >= 2 }.values.reduce(0, +)
                        + aggregate.unmeasured.filter { $0.key >= 2 }.values.reduce(0, +)
                }
            }
            if self.settings.isEnabled("CR-06"), flagged {
                cr06.clients += 1
                let first = bursts.first ?? sample
                finding(
                    "CR-06", self.settings.severity("CR-06", default: .medium),
                    "\(client): \(immediate) of \(judged + unmeasured) retries came within \(Self.seconds(self.minGapNs)) of the failure (\(Int((share * 100).rounded())) %; the median gap is immediate \(Self.beforeAttempts(immediateIndices.sorted()))); \(FaultlineCore.counted(aggregate.immediateRequestsTotal, "logical request")) had 2 or more immediate retries"
                        + (aggregate.immediateBySends > 0
                            ? "; \(aggregate.immediateBySends) of the immediate retries were sent within \(Self.seconds(self.minGapNs)) of the attempt before, whose failure's time the log does not give" : ""),
                    requests: bursts.prefix(20).map { "R\($0.request)" }, evidence: first?.evidence ?? [], operation: first?.operation ?? "*"
                )
            }

            // CR-07: backoff not growing.
            if aggregate.longRequests >= minLong, let growth = profile.growth, let t1 = profile.initial {
                cr07.clients += 1
                cr07.judged += aggregate.longRequests
                // Already at a cap of a second or more, reached by growing first.
                let capped = (profile.cap ?? 0) >= 1e9
                // A straight line is told from a doubling only when the delays are
                // exact: with jitter, three noisy points fit either, and a careful
                // client with full jitter must never be called linear (growth decides).
                let linear = profile.kind == "linear" && behaviours.last?.jitter == "none"
                if growth < minGrowth || linear, !capped, self.settings.isEnabled("CR-07") {
                    let severity = self.settings.rules["CR-07"]?.severity ?? (t1 < 100e6 ? .medium : .low)
                    let shape = linear ? "grows linearly (×\(String(format: "%.2f", growth)) over the first attempts, a straight line fits better)" : "grows ×\(String(format: "%.2f", growth)) per attempt (needs ≥ \(ProfileReaderFormat.number(minGrowth)))"
                    finding(
                        "CR-07", severity,
                        "\(client): the delay \(shape), first delay \(Self.seconds(t1)), over \(aggregate.longRequests) logical requests with 3 or more retries",
                        requests: [], evidence: aggregate.longestGap?.evidence ?? [], operation: aggregate.longestGap?.operation ?? "*"
                    )
                }
            }
            cr07.best = max(cr07.best, aggregate.longRequests)

            // CR-08: no jitter, per index with enough gaps.
            var cvs: [(index: Int, cv: Double, n: Int)] = []
            for (index, reservoir) in aggregate.gaps.sorted(by: { $0.key < $1.key }) {
                if reservoir.seen > cr08.best { cr08.best = reservoir.seen; cr08.bestIndex = index }
                // The smaller of the plain and the robust CV: a deterministic schedule
                // with a few late wake-ups is still deterministic.
                guard reservoir.seen >= minJitterSamples, let mean = GapStatistics.mean(reservoir.samples), mean >= self.minGapNs,
                    let plain = GapStatistics.cv(reservoir.samples)
                else { continue }
                let cv = min(plain, GapStatistics.robustCV(reservoir.samples) ?? plain)
                cvs.append((index, cv, reservoir.seen))
            }
            if !cvs.isEmpty {
                cr08.judged += cvs.reduce(0) { $0 + $1.n }
                if cvs.allSatisfy({ $0.cv < maxCV }), self.settings.isEnabled("CR-08") {
                    let list = cvs.map { "\(Self.beforeAttempts([$0.index])): CV \(String(format: "%.3f", $0.cv)) over \($0.n) gaps" }.joined(separator: "; ")
                    finding(
                        "CR-08", self.settings.severity("CR-08", default: .medium),
                        "\(client): the backoff delays are deterministic (\(list); needs CV ≥ \(maxCV))",
                        requests: [], evidence: aggregate.longestGap?.evidence ?? [], operation: aggregate.longestGap?.operation ?? "*"
                    )
                } else {
                    cr08.passed += 1
                }
            }

            // CR-09: a delay beyond the cap.
            cr09.gaps += aggregate.gaps.values.reduce(0) { $0 + $1.seen }
            if let longest = aggregate.longestGap {
                cr09.longest = max(cr09.longest, longest.ns)
                if longest.ns > maxDelay, self.settings.isEnabled("CR-09") {
                    finding(
                        "CR-09", self.settings.severity("CR-09", default: .low),
                        "\(client): R\(longest.request) waited \(Self.seconds(longest.ns)) between attempts (more than \(Self.seconds(maxDelay)))",
                        requests: ["R\(longest.request)"], evidence: longest.evidence, operation: longest.operation
                    )
                }
            }

            // CR-17: amplification over logical requests that met a fault.
            cr17.best = max(cr17.best, aggregate.faultRequests)
            if aggregate.faultRequests >= minFaultRequests {
                cr17.clients += 1
                cr17.requests += aggregate.faultRequests
                cr17.attempts += aggregate.faultAttempts
                let amplification = Double(aggregate.faultAttempts) / Double(aggregate.faultRequests)
                cr17.highest = max(cr17.highest, amplification)
                if amplification > maxAmplification, self.settings.isEnabled("CR-17") {
                    finding(
                        "CR-17", self.settings.severity("CR-17", default: .high),
                        "\(client): \(aggregate.faultAttempts) attempts for \(aggregate.faultRequests) logical requests that met a fault: A = \(String(format: "%.2f", amplification)) (limit \(ProfileReaderFormat.number(maxAmplification)))",
                        requests: [], evidence: aggregate.longestGap?.evidence ?? [], operation: aggregate.longestGap?.operation ?? "*"
                    )
                }
            }
        }

        // CR-14: judged on the share of non-retryable responses that were retried.
        let cr14Share = self.cr14Responses > 0 ? Double(self.cr14Retried) / Double(self.cr14Responses) : 0
        let cr14Min = self.settings.threshold("CR-14", "min_share", default: 0.05)
        if self.cr14Retried > 0, cr14Share >= cr14Min {
            for candidate in self.cr14Candidates {
                self.add(candidate.finding, sortTime: candidate.sortTime)
                if let number = candidate.finding.requests.first.flatMap({ Int($0.dropFirst()) }) { deferredRows.append((number, "CR-14")) }
            }
        }

        // Verdicts. A rule's status and severity are what its findings really carry:
        // failed when one is a violation (LOW or above), noted when every one is INFO
        // (reported, never failing: a rule with findings never reads "passed"), and the
        // severity shown is the worst of its findings, else the one a finding would get.
        var kept: [String: (violations: Int, infos: Int, worst: Severity?)] = [:]
        for candidate in self.findings {
            let finding = candidate.finding
            var entry = kept[finding.rule] ?? (0, 0, nil)
            if finding.severity >= .low { entry.violations += 1 } else { entry.infos += 1 }
            entry.worst = max(entry.worst ?? finding.severity, finding.severity)
            kept[finding.rule] = entry
        }
        func verdict(_ id: String, samples: Int, minimum: Int = 1, applicable: Bool, evidence: String, short: String? = nil, passed: String? = nil) {
            let rule = RetryRule.named(id)
            let found = kept[id] ?? (0, 0, nil)
            // Findings past the limit are counted, not kept: they carry the severity the
            // kept ones do when those agree (every CR-22 is INFO by default), else count
            // as violations.
            let overflow = max(0, self.findingCounts[id, default: 0] - found.violations - found.infos)
            let overflowIsInfo = found.violations == 0 && found.infos > 0
            let violations = found.violations + (overflowIsInfo ? 0 : overflow)
            let infos = found.infos + (overflowIsInfo ? overflow : 0)
            let severity = found.worst ?? self.settings.severity(id, default: Self.findingSeverity(id))
            let status: CheckReport.RuleResult.Status
            if !self.settings.isEnabled(id) {
                status = .off
            } else if violations > 0 {
                status = .failed
            } else if infos > 0 {
                status = .noted
            } else if !applicable {
                status = .notApplicable
            } else if samples < minimum {
                status = .notEnoughEvidence
            } else {
                status = .passed
            }
            // `passed` says what the pass rests on, where the counts alone do not.
            let text = status == .notEnoughEvidence ? (short ?? evidence) : status == .passed ? evidence + (passed ?? "") : evidence
            var counts = ""
            if violations > 0 {
                counts = "; \(FaultlineCore.counted(violations, "finding"))" + (infos > 0 ? " and \(infos) INFO" : "")
            } else if infos > 0 {
                counts = "; \(FaultlineCore.counted(infos, "INFO finding")) (reported, never failing the check)"
            }
            results[id] = CheckReport.RuleResult(
                id: id, name: rule.name, severity: severity, status: status, evidence: text + counts, samples: samples, minimumSamples: minimum
            )
        }
        let sampleCounts = self.samples
        func s(_ id: String) -> Int { sampleCounts[id, default: 0] }
        verdict("CR-01", samples: s("CR-01"), applicable: s("CR-01") > 0,
            evidence: "\(FaultlineCore.counted(s("CR-01"), "retry", plural: "retries")) of non-idempotent requests in \(FaultlineCore.counted(self.summary.retried, "retried logical request"))" + ((kept["CR-01"]?.infos ?? 0) > 0 ? " (\(kept["CR-01"]!.infos) after a not-applied attempt: INFO)" : ""),
            passed: "; none re-sent without a key after an attempt whose effect is unknown")
        verdict("CR-03", samples: s("CR-03"), applicable: s("CR-03") > 0,
            evidence: "\(FaultlineCore.counted(s("CR-03"), "attempt")) judged for a changed key (retries of keyed logical requests, and requests sent right after the same request with another key)",
            passed: "; no key added, removed or changed")
        verdict("CR-04", samples: s("CR-04"), applicable: s("CR-04") > 0, evidence: "\(FaultlineCore.counted(s("CR-04"), "keyed logical request"))",
            passed: "; no key reused for another request within the window")
        // Retries whose gaps could not be measured are no evidence either way: with
        // nothing judged the samples are 0, so not enough evidence, never passed.
        let serverChosen = self.serverChosenWaits > 0 ? " (\(FaultlineCore.counted(self.serverChosenWaits, "wait")) after a Retry-After the client received \(self.serverChosenWaits == 1 ? "was" : "were") the server's, left out)" : ""
        // Immediate retries that were all first retries, with no later attempt number
        // to judge (a client that retries once, at once): not enough evidence, never
        // "passed" (which would read as if the client backs off).
        let onlyFirstRetries = cr06.clients == 0 && cr06.undecided == 0 && cr06.firstOnly > 0 && cr06.decided == 0
        let laterRetries = cr06.laterRetries == 0
            ? "no later retries"
            : "\(FaultlineCore.counted(cr06.laterRetries, "later retry", plural: "later retries")), too few before any one attempt (needs 3)"
        verdict("CR-06", samples: cr06.clients == 0 && (cr06.undecided > 0 || onlyFirstRetries) ? 0 : cr06.judged, applicable: self.summary.retried > 0,
            evidence: "\(cr06.immediate) of \(cr06.judged) retries immediate (< \(Self.seconds(self.minGapNs)))"
                + (cr06.unmeasured > 0 ? ", and \(cr06.unmeasured) whose gap is unknown (sent \(Self.seconds(self.minGapNs)) or more after an attempt whose failure's time the log does not give), counted as not immediate" : "")
                + (cr06.firstOnly > 0 && cr06.clients == 0
                    ? "; \(FaultlineCore.counted(cr06.firstOnly, "client")) retried at once only as a first retry, with too few later retries to judge \(cr06.firstOnly == 1 ? "it" : "them")" : "")
                + "; flagged when a client's median gap is immediate beyond its first retry (at an attempt number with ≥ 3 retries) and a request has ≥ 2 immediate retries or ≥ \(Int(minShare * 100)) % of its retries are immediate (a single immediate first retry, as urllib3 and Go's transparent retry do, is allowed)",
            short: cr06.undecided > 0
                ? "\(cr06.immediate) of \(cr06.judged) retries immediate (< \(Self.seconds(self.minGapNs))), some beyond the first retry, but at attempt numbers with fewer than 3 retries: too few to judge a client's median gap there"
                : onlyFirstRetries
                    ? "\(cr06.immediate) of \(cr06.judged) retries immediate (< \(Self.seconds(self.minGapNs))), each a first retry (attempt 1), which may be immediate (as urllib3's and Go's transparent retries are); \(laterRetries), so nothing shows whether the client backs off"
                    : "\(FaultlineCore.counted(self.summary.retried, "retried logical request")), but no delay between their attempts could be measured" + serverChosen)
        verdict("CR-07", samples: cr07.clients > 0 ? cr07.best : 0, minimum: minLong, applicable: self.summary.retried > 0,
            evidence: "\(FaultlineCore.counted(cr07.judged, "logical request")) with ≥ 3 retries over \(FaultlineCore.counted(cr07.clients, "client")); growth must be ≥ ×\(minGrowth)",
            short: cr07.best >= minLong
                ? "\(FaultlineCore.counted(cr07.best, "logical request")) with ≥ 3 retries from one client, but no delays between their attempts could be measured" + serverChosen
                : "\(FaultlineCore.counted(cr07.best, "logical request")) with ≥ 3 retries from one client (needs \(minLong))")
        verdict("CR-08", samples: cr08.judged > 0 ? cr08.best : 0, minimum: minJitterSamples, applicable: self.summary.retried > 0,
            evidence: "\(FaultlineCore.counted(cr08.judged, "gap")) judged, counting only attempt numbers with ≥ \(minJitterSamples) gaps before them; CV must be ≥ \(maxCV) before some attempt",
            short: cr08.best >= minJitterSamples
                ? "\(FaultlineCore.counted(cr08.best, "gap")) \(Self.beforeAttempts([cr08.bestIndex])) (the most before any one attempt), all under \(Self.seconds(self.minGapNs)) or unmeasured: no delays to judge jitter by"
                : "\(FaultlineCore.counted(cr08.best, "gap")) \(Self.beforeAttempts([cr08.bestIndex])) (the most before any one attempt; needs \(minJitterSamples))")
        let windowNote = Double(self.windowNs) < maxDelay ? "; the grouping window (\(Self.seconds(Double(self.windowNs)))) is shorter than the limit, so a longer delay starts a new logical request: raise --window to see it" : ""
        verdict("CR-09", samples: cr09.gaps, applicable: cr09.gaps > 0,
            evidence: "\(FaultlineCore.counted(cr09.gaps, "gap")), longest \(Self.seconds(cr09.longest)) (limit \(Self.seconds(maxDelay)))\(windowNote)")
        verdict("CR-10", samples: s("CR-10"), applicable: s("CR-10") > 0,
            evidence: "\(FaultlineCore.counted(s("CR-10"), "logical request")), at most \(FaultlineCore.counted(self.clients.values.map(\.maxAttempts).max() ?? 0, "attempt")) (limit \(maxAttempts))")
        verdict("CR-12", samples: s("CR-12"), applicable: s("CR-12") > 0,
            evidence: "\(FaultlineCore.counted(s("CR-12"), "retried logical request")); " + (self.options.deadline.map { "deadline \(Self.seconds(Double($0.nanoseconds))) across attempts" } ?? "no deadline given: a retry span over \(Self.seconds(self.settings.threshold("CR-12", "max_span", default: 60e9))) is flagged LOW"))
        verdict("CR-13", samples: s("CR-13"), applicable: s("CR-13") > 0, evidence: "\(FaultlineCore.counted(s("CR-13"), "retry", plural: "retries")) after a reply with Retry-After",
            passed: "; each waited the Retry-After it was given (within the tolerance)")
        verdict("CR-14", samples: self.cr14Responses, applicable: self.cr14Responses > 0,
            evidence: "\(self.cr14Retried) of \(self.cr14Responses) non-retryable responses retried (\(Int((cr14Share * 100).rounded())) %; flagged at ≥ \(Int(cr14Min * 100)) %)")
        verdict("CR-15", samples: s("CR-15"), applicable: s("CR-15") > 0, evidence: "\(FaultlineCore.counted(s("CR-15"), "retry", plural: "retries")) of non-idempotent requests without a key",
            passed: "; none sent while the one before was still in flight")
        verdict("CR-17", samples: cr17.best, minimum: minFaultRequests, applicable: self.summary.faults > 0,
            evidence: "A = attempts / logical requests that met a fault: \(cr17.attempts) / \(cr17.requests) over \(FaultlineCore.counted(cr17.clients, "client")), highest \(String(format: "%.2f", cr17.highest)); flagged above \(ProfileReaderFormat.number(maxAmplification)) (a careful client retrying a fault on every first attempt has A = 2; one that gives up after the \(maxAttempts) attempts CR-10 allows has A = \(maxAttempts) under a total outage)",
            short: "\(FaultlineCore.counted(cr17.best, "logical request")) that met a fault from one client (needs \(minFaultRequests))")
        verdict("CR-19", samples: s("CR-19"), applicable: s("CR-19") > 0 || self.cr19Inconclusive > 0,
            evidence: "\(FaultlineCore.counted(s("CR-19"), "attempt")) whose reply a fault withheld, judged against \(Self.seconds(self.settings.threshold("CR-19", "max_hold", default: 60e9)))" + (self.cr19Inconclusive > 0 ? "; \(self.cr19Inconclusive) ended by the proxy or the log before the limit (inconclusive)" : ""))
        verdict("CR-22", samples: s("CR-22"), applicable: s("CR-22") > 0, evidence: "\(FaultlineCore.counted(s("CR-22"), "non-idempotent request")) sent again after a success")

        var report = CheckReport(check: "retries", inputs: self.inputs, origin: self.origin ?? 0, seeds: self.seeds)
        report.rules = RetryRule.all.compactMap { results[$0.id] }
        report.findings = self.findings.sorted { a, b in
            if a.finding.severity != b.finding.severity { return a.finding.severity > b.finding.severity }
            if a.finding.rule != b.finding.rule { return a.finding.rule < b.finding.rule }
            return a.sortTime < b.sortTime
        }.map(\.finding)
        report.clients = behaviours
        report.notes = self.reportNotes()

        for (number, id) in deferredRows {
            if self.timelineRows[number] != nil, self.timelineRows[number]!.findings.contains(id) == false {
                self.timelineRows[number]!.findings.append(id)
            }
        }
        report.timeline = CheckReport.Timeline(
            requests: self.timelineRows.keys.sorted().compactMap { self.timelineRows[$0] },
            faults: self.timelineFaults,
            endNs: self.relative(max(self.endMono, self.origin ?? 0))
        )
        var summary = self.summary
        summary.clients = self.clients.count
        summary.findingsBySeverity = Dictionary(grouping: report.findings, by: \.severity.rawValue).mapValues(\.count)
        // Findings past the limit are counted, not kept: they carry the severity of the
        // kept ones (the rule's worst, when those differ), as the rules table says.
        for (rule, total) in self.findingCounts where total > Self.findingLimit {
            let severity = report.rules.first { $0.id == rule }?.severity ?? Self.findingSeverity(rule)
            summary.findingsBySeverity[severity.rawValue, default: 0] += total - Self.findingLimit
        }
        report.summary = summary
        return report
    }

    /// Where gaps at these retry indices fall, in the report's attempt numbers: the gap
    /// at index j is the one before attempt j (attempts count from 0, as in the event log
    /// and the evidence tables, so index 1 is the first retry and its gap is row 1's);
    /// the last index holds every later one. `before attempt 1`, `before attempts 2, 3`,
    /// `before attempt 16 or later`.
    static func beforeAttempts(_ indices: [Int]) -> String {
        let numbers = indices.map { $0 >= Self.indexLimit ? "\($0) or later" : String($0) }
        return (numbers.count == 1 ? "before attempt " : "before attempts ") + numbers.joined(separator: ", ")
    }

    /// The severity a rule's findings get when `--rules` sets none: the rule book's,
    /// except CR-15 and CR-22, whose findings are INFO unless `--rules` raises them (a
    /// hedge and two threads sending at once, or a repeat meant and one not, look the
    /// same on the wire). The rules table and the notes go by this, so they say what the
    /// findings carry. Where a rule's findings vary by case (CR-01 CRIT for money, INFO
    /// after a not-applied attempt; CR-03 INFO for another key; CR-07 MED under a 100 ms
    /// first delay; CR-13 HIGH after a 429), this is the usual one, and the table shows
    /// the worst of the findings there are.
    static func findingSeverity(_ id: String) -> Severity {
        switch id {
        case "CR-15", "CR-22": .info
        default: RetryRule.named(id).severity
        }
    }

    /// What the report must say about how it was made.
    func reportNotes() -> [String] {
        var notes: [String] = []
        let file = self.settings.file ?? "--rules"
        for rule in RetryRule.all {
            guard let change = self.settings.rules[rule.id] else { continue }
            if change.enabled == false {
                notes.append(
                    rule.safety
                        ? "\(rule.id) turned off by \(file): unsafe retries are not being checked (\(rule.name))"
                        : "\(rule.id) \(rule.name) turned off by \(file)"
                )
            }
            let standard = Self.findingSeverity(rule.id)
            if let severity = change.severity, severity != standard {
                let lowered = severity < standard
                notes.append(
                    "\(rule.id) severity set to \(severity.rawValue) by \(file) (default \(standard.rawValue))"
                        + (rule.safety && lowered ? ": a safety rule was lowered, unsafe retries count for less" : "")
                )
            }
            for (key, value) in change.thresholds.sorted(by: { $0.key < $1.key }) {
                let shown = RuleSettings.thresholdKeys[rule.id]?[key].map { kind -> String in
                    if case .duration = kind { return Self.seconds(value) }
                    return ProfileReaderFormat.number(value)
                } ?? "\(value)"
                notes.append("\(rule.id) \(key) set to \(shown) by \(file)")
            }
        }
        if self.options.maxAttempts != 5, self.settings.rules["CR-10"]?.thresholds["max_attempts"] == nil {
            notes.append(
                "CR-10 limit set to \(self.options.maxAttempts) attempts (default 5)"
                    + (self.settings.rules["CR-17"]?.thresholds["max_amplification"] == nil ? "; CR-17's amplification limit follows it" : "")
            )
        }
        for pattern in self.settings.operations where pattern.tag == .idempotent {
            notes.append("operations matching \"\(pattern.pattern)\" tagged idempotent by \(file): their retries without a key are not flagged")
        }
        if self.keyFromHeader {
            notes.append("idempotency key read from the \(self.options.keyHeader) header of recorded payloads")
        }
        for framing in ["line", "length"] where self.framings.contains(framing) {
            notes.append("\(framing) framing: every message treated as non-idempotent unless --rules tags its operation (the operation is the message's first word when payloads are recorded, else 'message')")
        }
        if self.summary.attempts == 0 {
            notes.append("no request messages in the input: nothing to judge (was the proxy run with --framing?)")
        }
        for (rule, total) in self.findingCounts.sorted(by: { $0.key < $1.key }) where total > Self.findingLimit {
            notes.append("\(rule): \(total) findings, the first \(Self.findingLimit) listed")
        }
        if self.nextRequestID - 1 > Self.timelineLimit {
            notes.append("timeline truncated: rows for the first \(Self.timelineLimit) of \(self.nextRequestID - 1) logical requests")
        }
        if self.timelineFaultsDropped > 0 {
            notes.append("timeline truncated: the first \(Self.timelineFaultLimit) faults drawn, \(self.timelineFaultsDropped) more left out")
        }
        return notes
    }
}

/// Numbers as a rules file writes them (`3`, `1.5`).
enum ProfileReaderFormat {
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
