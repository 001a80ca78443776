import FaultlineChecker
import Foundation

extension OperationExperiment {
    // MARK: SR-01

    /// SR-01: the same request `repeats` times in a row (same fresh key): the state may
    /// change once at most.
    mutating func duplicates() async throws {
        let rule = ServiceRule.duplicateChangesState
        let bytes = self.withFreshKey("sr01")
        let k = self.options.repeats
        let before = try await self.check.probe("before SR-01")
        var sent = [try await self.check.send(bytes, step: "SR-01 #1")]
        let afterFirst = try await self.check.probe("after SR-01 #1")
        for index in 2...k { sent.append(try await self.check.send(bytes, step: "SR-01 #\(index)")) }
        let afterLast = try await self.check.probe("after SR-01 #\(k)")
        self.sr01 = sent
        guard !self.dryRun else { return self.record(rule, .notApplicable, evidence: "dry run: nothing sent", samples: 0) }
        if let reply = sent.first?.reply {
            if let status = reply.status, status >= 400 {
                self.requestFails = "the replayed request itself gets \(status)"
            } else if self.request.wire == .resp, reply.bytes.first == UInt8(ascii: "-") {
                self.requestFails = "the replayed command itself gets an error (\(ByteText.firstLine(reply.bytes)))"
            }
        }
        let withKey = self.keyed ? "with one key" : "without a key"
        let severity: Severity = self.keyed ? .critical : .high
        let views = sent.compactMap(self.view)
        let judged = self.repliesShowExtraEffect(views)
        self.replySteps = Self.steadySteps(Self.successful(views).map(\.numbers).filter { !$0.isEmpty })
        if let before, let afterFirst, let afterLast {
            self.observable = true
            self.firstEffect = afterFirst.changed(from: before)
            self.unitDelta = afterFirst.delta(from: before)
            let extra = afterLast.changed(from: afterFirst)
            let states = "probe \(before.summary) → \(afterFirst.summary) after #1 → \(afterLast.summary) after #\(k)"
            if !extra, self.firstEffect == false, judged.extra {
                // The probe saw nothing at all, yet the replies count effects: it reads
                // other state than this operation changes (GET counter for an LPUSH).
                self.extraEffects.insert(rule.id)
                self.record(
                    rule, .failed, evidence: "\(k) identical requests \(withKey): \(judged.why); the probe did not move (\(states)): it does not read what this operation changes", samples: k,
                    finding: (severity, "\(self.operation) sent \(k) times in a row \(withKey) was applied more than once: \(judged.why) (the probe did not see it: \(states))."),
                    sent: sent
                )
            } else if extra {
                self.extraEffects.insert(rule.id)
                let count = self.unitDelta.flatMap { unit in afterLast.delta(from: before).flatMap { StateSnapshot.effects(total: $0, unit: unit) } }
                let applied = count.map { "\($0) effects" } ?? "more than one effect"
                self.record(
                    rule, .failed, evidence: "\(k) identical requests \(withKey): \(applied); \(states)", samples: k,
                    finding: (severity, "\(self.operation) sent \(k) times in a row \(withKey) changed the state after the first: \(applied) (\(states))."),
                    sent: sent
                )
            } else {
                let first = self.firstEffect == true ? "the first changed the state, the repeats did not" : "no request changed the state"
                self.record(rule, .passed, evidence: "\(k) identical requests \(withKey): \(first); \(states)\(self.failingNote)", samples: k, severity: severity)
            }
            return
        }
        self.observable = self.observable || judged.observable
        if judged.extra {
            self.extraEffects.insert(rule.id)
            self.record(
                rule, .failed, evidence: "\(k) identical requests \(withKey): \(judged.why) (no probe: judged from the replies)", samples: k,
                finding: (severity, "\(self.operation) sent \(k) times in a row \(withKey) was applied more than once: \(judged.why)."),
                sent: sent
            )
        } else if judged.observable {
            self.record(rule, .passed, evidence: "\(k) identical requests \(withKey): \(judged.why) (no probe: weaker, a cached reply hides a repeated effect)\(self.failingNote)", samples: k, severity: severity)
        } else {
            self.inconclusive.append("no probe and \(judged.why)")
            self.record(rule, .notEnoughEvidence, evidence: "\(k) identical requests \(withKey): \(judged.why); give --probe to read the state", samples: k, severity: severity)
        }
    }

    /// `; but the replayed request itself gets 404`, when it does.
    var failingNote: String {
        self.requestFails.map { "; but \($0)" } ?? ""
    }

    // MARK: SR-02

    /// SR-02: the same key and payload twice must get the same answer; uses SR-01's
    /// first two replies rather than sending more duplicates to the service.
    mutating func replayMismatch() {
        let rule = ServiceRule.replayMismatch
        guard self.keyed else {
            return self.record(rule, .notApplicable, evidence: self.noKeyReason, samples: 0)
        }
        guard !self.dryRun else { return self.record(rule, .notApplicable, evidence: "dry run: uses SR-01's replies", samples: 0) }
        let sent = self.sr01
        let views = sent.compactMap(self.view)
        guard views.count >= 2 else { return self.record(rule, .notEnoughEvidence, evidence: "SR-01 got fewer than 2 replies", samples: views.count) }
        for index in 1..<views.count {
            let compared = self.sameAnswer(views[0], views[index])
            if !compared.same {
                return self.record(
                    rule, .failed, evidence: "SR-01 #1 and #\(index + 1) (same key, same payload): \(compared.how) (\(self.options.mode.rawValue))",
                    samples: views.count,
                    finding: (rule.severity, "A repeat of \(self.operation) with the same key and payload got a different answer: \(compared.how)."),
                    sent: sent
                )
            }
        }
        self.record(rule, .passed, evidence: "SR-01's \(views.count) replies with one key: \(self.sameAnswer(views[0], views[1]).how) (\(self.options.mode.rawValue))", samples: views.count)
    }

    var noKeyReason: String {
        switch self.request.wire {
        case .resp: "RESP commands carry no idempotency key"
        case .line: "line messages carry no idempotency key"
        case .http: "the recorded request carries no \(self.options.keyHeader) header"
        }
    }

    // MARK: SR-03

    /// SR-03: the same key with one JSON field changed must be rejected (422; 400 and
    /// 409 tolerated). A 2xx that applied the new payload is HIGH, one returning the
    /// cached original MED.
    mutating func changedPayload() async throws {
        let rule = ServiceRule.payloadMismatchAccepted
        guard self.keyed, let http = self.http else { return self.record(rule, .notApplicable, evidence: self.noKeyReason, samples: 0) }
        let original = HTTPRequestBytes(self.withFreshKey("sr03")) ?? http
        guard !original.isChunked, let change = JSONFieldChange.first(in: original.body) else {
            return self.record(rule, .notApplicable, evidence: "the recorded body is not a JSON object with a field to change", samples: 0)
        }
        let changed = original.replacingBody(change.body)
        let before = try await self.check.probe("before SR-03")
        let first = try await self.check.send(original.bytes, step: "SR-03 original")
        let middle = try await self.check.probe("after SR-03 original")
        let second = try await self.check.send(changed.bytes, step: "SR-03 changed \(change.description)")
        let after = try await self.check.probe("after SR-03 changed")
        _ = before
        guard !self.dryRun, let a = self.view(first), let b = self.view(second), let status = b.status else {
            return self.record(rule, .notApplicable, evidence: "dry run: nothing sent", samples: 0)
        }
        let sent = [first, second]
        switch status {
        case 422:
            self.record(rule, .passed, evidence: "same key, \(change.description): 422 as the draft asks", samples: 2)
        case 400, 409:
            self.record(rule, .passed, evidence: "same key, \(change.description): \(status) (tolerated; the draft asks 422)", samples: 2)
        case 200..<300:
            let applied: Bool
            let how: String
            if let middle, let after {
                applied = after.changed(from: middle)
                how = applied ? "the probe moved (\(middle.summary) → \(after.summary))" : "the probe did not move"
            } else {
                applied = change.appears(in: second.reply?.body ?? []) || (a.resource != nil && !Self.sameResource(a.resource, b.resource))
                how = applied ? "the reply carries the new value or a new resource (no probe)" : "the reply does not carry the new value (no probe)"
            }
            if applied {
                self.record(
                    rule, .failed, evidence: "same key, \(change.description): \(status) and the new payload was applied; \(how)", samples: 2,
                    finding: (.high, "\(self.operation) reused a key with a changed payload (\(change.description)) and the service applied it: \(status), \(how)."),
                    sent: sent
                )
            } else {
                let cached = self.sameAnswer(a, b).same
                self.record(
                    rule, .failed, evidence: "same key, \(change.description): \(status)\(cached ? " with the cached original answer" : ""); \(how)", samples: 2,
                    finding: (.medium, "\(self.operation) reused a key with a changed payload (\(change.description)) and got \(status)\(cached ? ", the first request's answer" : "") instead of 422: the client is told its new request succeeded."),
                    sent: sent
                )
            }
        case 500..<600:
            self.record(
                rule, .failed, evidence: "same key, \(change.description): \(status)", samples: 2,
                finding: (.medium, "\(self.operation) reused a key with a changed payload and the service failed with \(status) instead of answering 422."),
                sent: sent
            )
        default:
            self.record(rule, .passed, evidence: "same key, \(change.description): rejected with \(status) (the draft asks 422)", samples: 2)
        }
    }

    // MARK: SR-04

    /// SR-04: `concurrency` identical keyed requests released together: exactly one
    /// effect; the others 409 or the same answer; a second effect is CRIT, a 5xx MED.
    mutating func concurrentDuplicates() async throws {
        let rule = ServiceRule.concurrentDuplicate
        guard self.keyed else { return self.record(rule, .notApplicable, evidence: self.noKeyReason, samples: 0) }
        let n = self.options.concurrency
        let bytes = self.withFreshKey("sr04")
        let before = try await self.check.probe("before SR-04")
        let sent = try await self.check.race(bytes, count: n, step: "SR-04")
        let after = try await self.check.probe("after SR-04")
        guard !self.dryRun else { return self.record(rule, .notApplicable, evidence: "dry run: nothing sent", samples: 0) }
        let views = sent.compactMap(self.view)
        let statuses = views.map { $0.status.map(String.init) ?? "-" }.joined(separator: ", ")
        let successes = views.filter { ($0.status ?? 200) < 300 && ($0.status ?? 200) >= 200 }
        // Effects: from the probe when its numbers can count them, else from the replies.
        var effects: Int?
        var how = ""
        if let before, let after {
            if let total = after.delta(from: before), let unit = self.unitDelta, let count = StateSnapshot.effects(total: total, unit: unit) {
                effects = count
                how = "probe \(before.summary) → \(after.summary): \(count) effect(s)"
            } else {
                how = after.changed(from: before) ? "the probe moved (\(before.summary) → \(after.summary)); its numbers cannot count the effects" : "the probe did not move"
                if !after.changed(from: before) { effects = self.firstEffect == true ? 0 : nil }
            }
        }
        let replies = self.repliesShowExtraEffect(successes, concurrent: true)
        if effects == nil, replies.extra { effects = ResourceName.distinct(successes.compactMap(\.resource)).count.nonZero ?? 2 }
        if how.isEmpty { how = "no probe: \(replies.why)" }
        let answersDiffer = successes.count > 1 && successes.dropFirst().contains { !self.sameAnswer(successes[0], $0).same }
        let others = views.filter { view in
            guard let status = view.status else { return false }
            return !(200..<300).contains(status) && status != 409
        }
        if let count = effects, count > 1 {
            self.extraEffects.insert(rule.id)
            self.record(
                rule, .failed, evidence: "\(n) identical keyed requests at once: \(count) effects; statuses \(statuses); \(how)", samples: n,
                finding: (.critical, "\(n) concurrent requests of \(self.operation) with one key were applied \(count) times (statuses \(statuses)): the key is checked and stored in two steps, so duplicates in flight race past it."),
                sent: sent
            )
        } else if answersDiffer {
            self.record(
                rule, .failed, evidence: "\(n) identical keyed requests at once: the successful answers differ; statuses \(statuses); \(how)", samples: n,
                finding: (.high, "\(n) concurrent requests of \(self.operation) with one key got different successful answers (statuses \(statuses))."),
                sent: sent
            )
        } else if views.contains(where: { ($0.status ?? 0) >= 500 }) {
            self.record(
                rule, .failed, evidence: "\(n) identical keyed requests at once: statuses \(statuses) (a 5xx); \(how)", samples: n,
                finding: (.medium, "\(n) concurrent requests of \(self.operation) with one key got a 5xx (statuses \(statuses)): a duplicate in flight should get 409."),
                sent: sent
            )
        } else if effects == nil && !replies.observable {
            self.record(rule, .notEnoughEvidence, evidence: "\(n) identical keyed requests at once: statuses \(statuses); \(how)", samples: n)
        } else {
            let note = others.isEmpty ? "" : " (other statuses: \(others.compactMap(\.status).map(String.init).joined(separator: ", ")))"
            self.record(rule, .passed, evidence: "\(n) identical keyed requests at once: one effect; statuses \(statuses)\(note); \(how)", samples: n)
        }
    }

    // MARK: SR-05

    /// SR-05: the request's reply is lost (replay's proxy drops it), then the client
    /// retries: one effect, and (with a key) the retry gets the original answer.
    mutating func lostReplyThenRetry() async throws {
        let rule = ServiceRule.ambiguousThenRetry
        let bytes = self.withFreshKey("sr05")
        let before = try await self.check.probe("before SR-05")
        let first = try await self.check.sendLosingReply(bytes, step: "SR-05 first attempt (reply dropped)")
        let middle = try await self.check.probe("after SR-05 first attempt")
        let retry = try await self.check.send(bytes, step: "SR-05 retry")
        let after = try await self.check.probe("after SR-05 retry")
        guard !self.dryRun else { return self.record(rule, .notApplicable, evidence: "dry run: nothing sent", samples: 0) }
        let sent = [first, retry]
        if first.failure == "the proxy did not drop the reply" {
            return self.record(rule, .notEnoughEvidence, evidence: "the proxy did not drop the first reply", samples: 1)
        }
        var extra = false
        var how: String
        let judged = self.repliesShowExtraEffect([self.view(first), self.view(retry)].compactMap { $0 })
        if let before, let middle, let after {
            extra = after.changed(from: middle)
            let firstApplied = middle.changed(from: before)
            how = "probe \(before.summary) → \(middle.summary) after the lost attempt\(firstApplied ? " (applied)" : "") → \(after.summary) after the retry"
            if !extra, self.firstEffect == false, judged.extra {
                // As in SR-01: a probe that saw nothing does not outweigh replies that count.
                extra = true
                how += ", which does not read what this operation changes; the replies: \(judged.why)"
            }
        } else {
            extra = judged.extra
            how = "no probe: \(judged.why) (the lost reply, as the proxy saw it, and the retry's)"
        }
        var sameAnswer = true
        if self.keyed, let original = self.view(first), let again = self.view(retry) {
            let compared = self.sameAnswer(original, again)
            sameAnswer = compared.same
            how += "; answer: \(compared.how)"
        }
        if extra {
            self.extraEffects.insert(rule.id)
            self.record(
                rule, .failed, evidence: "reply lost, then a retry\(self.keyed ? " with the same key" : ""): applied twice; \(how)", samples: 2,
                finding: (.critical, "\(self.operation): the first attempt's reply was lost and the retry\(self.keyed ? " with the same key" : "") was applied again (\(how))."),
                sent: sent
            )
        } else if !sameAnswer {
            self.record(
                rule, .failed, evidence: "reply lost, then a retry with the same key: one effect, but not the original answer; \(how)", samples: 2,
                finding: (.high, "\(self.operation): after a lost reply the retry with the same key did not get the original answer (\(how))."),
                sent: sent
            )
        } else if before == nil, !judged.observable {
            // No probe, and replies that show nothing either way: no verdict, as in SR-01.
            self.inconclusive.append("no probe and \(judged.why)")
            self.record(rule, .notEnoughEvidence, evidence: "reply lost, then a retry: \(how); give --probe to read the state", samples: 2)
        } else {
            self.record(rule, .passed, evidence: "reply lost, then a retry: one effect; \(how)", samples: 2)
        }
    }

    // MARK: SR-07

    /// SR-07 (operations named by `--key-required`): the request without its key must
    /// be rejected with 400.
    mutating func missingKey() async throws {
        let rule = ServiceRule.missingKeyNotRejected
        let required = Set(self.options.keyRequired.map(IdempotencyCheck.normalise))
        guard required.contains(IdempotencyCheck.normalise(self.operation)) else {
            return self.record(rule, .notApplicable, evidence: "not named by --key-required", samples: 0)
        }
        guard let http = self.http else { return self.record(rule, .notApplicable, evidence: self.noKeyReason, samples: 0) }
        let bytes = http.removingHeader(self.options.keyHeader).bytes
        let sent = try await self.check.send(bytes, step: "SR-07 without \(self.options.keyHeader)")
        guard !self.dryRun, let status = sent.reply?.status else { return self.record(rule, .notApplicable, evidence: "dry run: nothing sent", samples: 0) }
        if status == 400 || status == 428 {
            self.record(rule, .passed, evidence: "without \(self.options.keyHeader): \(status)", samples: 1)
        } else {
            self.record(
                rule, .failed, evidence: "without \(self.options.keyHeader): \(status), expected 400", samples: 1,
                finding: (.low, "\(self.operation) requires \(self.options.keyHeader) (--key-required) but a request without it got \(status), not 400."),
                sent: [sent]
            )
        }
    }

    // MARK: Classification

    func verdict() -> CheckReport.OperationVerdict {
        let failed = Array(Set(self.findings.filter { $0.severity >= .low }.map(\.rule))).sorted()
        let classification: CheckReport.OperationVerdict.Classification
        let reason: String
        if self.dryRun {
            (classification, reason) = (.inconclusive, "dry run: nothing sent")
        } else if !self.extraEffects.isEmpty {
            (classification, reason) = (.atLeastOnce, "a repeat applied again (\(self.extraEffects.sorted().joined(separator: ", ")))")
        } else if let stoppedAt = self.stoppedAt {
            (classification, reason) = (.inconclusive, "the target stopped answering: \(stoppedAt)")
        } else if let requestFails = self.requestFails {
            (classification, reason) = (.inconclusive, "\(requestFails): nothing to deduplicate; replay a request that succeeds (fresh test data, valid credentials)")
        } else if !self.observable {
            (classification, reason) = (.inconclusive, self.inconclusive.first ?? "nothing to compare")
        } else if self.keyed && self.firstEffect != false {
            let basis = self.check.hasProbe ? "the probe moved once per key" : "the replies to duplicates name the same result (no probe)"
            (classification, reason) = (.deduplicatedByKey, "duplicates with one \(self.options.keyHeader) had one effect: \(basis)")
        } else {
            let basis = self.firstEffect == false ? "no request changed the probed state" : "repeats changed nothing more than the first"
            (classification, reason) = (.idempotent, "\(basis)\(self.check.hasProbe ? "" : " (no probe: judged from the replies)")")
        }
        return CheckReport.OperationVerdict(
            operation: self.operation, classification: classification, reason: reason, probed: self.check.hasProbe,
            keyed: self.keyed, failedRules: failed, source: self.request.source
        )
    }
}

extension Int {
    var nonZero: Int? { self == 0 ? nil : self }
}
