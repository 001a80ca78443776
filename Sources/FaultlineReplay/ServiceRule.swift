import FaultlineChecker

/// The service rules of docs/replay.md that replay applies, with what a correct
/// service does instead.
struct ServiceRule: Sendable {
    var id: String
    var name: String
    /// The severity in the rule book (a finding may be less severe, as SR-03's cached
    /// answer or SR-04's 5xx are).
    var severity: Severity
    var fix: String

    static let duplicateChangesState = ServiceRule(
        id: "SR-01", name: "DUP_CHANGES_STATE", severity: .critical,
        fix: "Store the idempotency key with the outcome of the first request, atomically with its effect, and answer "
            + "every repeat of that key from the store without applying it again; an operation without a key must be "
            + "idempotent by design (PUT of a whole state, DELETE) or be given one."
    )
    static let replayMismatch = ServiceRule(
        id: "SR-02", name: "REPLAY_MISMATCH", severity: .high,
        fix: "Answer a repeated key with the status and body saved for the first request (Stripe saves both once the "
            + "endpoint starts executing), not with a fresh computation."
    )
    static let payloadMismatchAccepted = ServiceRule(
        id: "SR-03", name: "PAYLOAD_MISMATCH_ACCEPTED", severity: .high,
        fix: "Save a fingerprint of the request with its key and answer a repeat whose payload differs with 422 "
            + "(draft-ietf-httpapi-idempotency-key-header); never apply it and never pass off the old answer as its result."
    )
    static let concurrentDuplicate = ServiceRule(
        id: "SR-04", name: "CONCURRENT_DUP", severity: .critical,
        fix: "Reserve the key before doing the work (an insert that fails on a duplicate key, a lock on it) and answer "
            + "duplicates that arrive while the first is in flight with 409, or wait and replay its answer."
    )
    static let ambiguousThenRetry = ServiceRule(
        id: "SR-05", name: "AMBIGUOUS_THEN_RETRY", severity: .critical,
        fix: "A request whose reply was lost has already been applied: deduplicate the client's retry by its key and "
            + "return the saved answer of the first attempt."
    )
    static let keyScopeLeak = ServiceRule(
        id: "SR-06", name: "KEY_SCOPE_LEAK", severity: .high,
        fix: "Scope keys per client (principal + key) so a key never returns another principal's answer."
    )
    static let missingKeyNotRejected = ServiceRule(
        id: "SR-07", name: "MISSING_KEY_NOT_REJECTED", severity: .low,
        fix: "Reject a request to an operation that requires an idempotency key with 400 when the key is missing."
    )
    static let errorReplay = ServiceRule(
        id: "SR-08", name: "ERROR_REPLAY", severity: .info,
        fix: "Document whether a failed first execution is replayed, re-executed or answered 409."
    )
    static let keyRetention = ServiceRule(
        id: "SR-09", name: "KEY_RETENTION", severity: .info,
        fix: "Keep keys at least as long as documented (24 h is common) and publish the window."
    )

    /// The rules replay runs per operation, in rule-id order.
    static let perOperation: [ServiceRule] = [
        .duplicateChangesState, .replayMismatch, .payloadMismatchAccepted, .concurrentDuplicate, .ambiguousThenRetry,
        .missingKeyNotRejected,
    ]

    /// Rules replay does not run, with the reason (one report line each).
    static let notRun: [(ServiceRule, String)] = [
        (.keyScopeLeak, "not run by replay: it needs the credentials of a second principal, which a log does not hold"),
        (.errorReplay, "not run by replay: it needs the first execution to fail inside the service (a dependency fault)"),
        (.keyRetention, "not run by replay: it needs replays hours apart"),
    ]

    func result(
        _ status: CheckReport.RuleResult.Status, operation: String, evidence: String, samples: Int = 0,
        severity: Severity? = nil
    ) -> CheckReport.RuleResult {
        CheckReport.RuleResult(
            id: self.id, name: self.name, severity: severity ?? self.severity, status: status, operation: operation,
            evidence: evidence, samples: samples, minimumSamples: 1
        )
    }
}
