/// The client rules `check retries` implements (docs/checker.md): id, name, default
/// severity, and whether it is a safety rule (`--rules` may relax it, but the report says so).
struct RetryRule: Sendable {
    let id: String
    let name: String
    let severity: Severity
    let safety: Bool
    /// What a correct client does, in one sentence: each finding's `fix`.
    let fix: String

    static let all: [RetryRule] = [
        RetryRule(
            id: "CR-01", name: "NONIDEMPOTENT_RETRY_NO_KEY", severity: .high, safety: true,
            fix: "Send an Idempotency-Key (the same value on every attempt) with a non-idempotent request before retrying it after an unknown outcome, or do not retry it."
        ),
        RetryRule(
            id: "CR-03", name: "KEY_CHANGED_BETWEEN_ATTEMPTS", severity: .high, safety: true,
            fix: "Generate the idempotency key once per logical request and reuse it, unchanged, on every retry."
        ),
        RetryRule(
            id: "CR-04", name: "KEY_REUSED_DIFFERENT_PAYLOAD", severity: .medium, safety: false,
            fix: "Use a fresh idempotency key for every new request; a key names one request with one payload."
        ),
        RetryRule(
            id: "CR-06", name: "NO_BACKOFF", severity: .medium, safety: false,
            fix: "Wait before retrying: exponential backoff with full jitter, e.g. sleep U(0, min(cap, 100ms·2^(n−1))) before attempt n."
        ),
        RetryRule(
            id: "CR-07", name: "BACKOFF_NOT_GROWING", severity: .low, safety: false,
            fix: "Grow the delay between attempts exponentially (×2 per attempt) up to a cap, instead of a constant or linear schedule."
        ),
        RetryRule(
            id: "CR-08", name: "NO_JITTER", severity: .medium, safety: false,
            fix: "Randomise every backoff delay (full jitter: U(0, delay)) so clients hit by the same fault do not retry in waves."
        ),
        RetryRule(
            id: "CR-09", name: "NO_CAP", severity: .low, safety: false,
            fix: "Cap the backoff delay (AWS 20 s, gRPC and urllib3 120 s) and give up within the caller's deadline."
        ),
        RetryRule(
            id: "CR-10", name: "TOO_MANY_ATTEMPTS", severity: .medium, safety: false,
            fix: "Limit a logical request to a few attempts (3 as the SRE book and AWS do; gRPC clamps to 5), then let the failure surface."
        ),
        RetryRule(
            id: "CR-12", name: "RETRY_AFTER_DEADLINE", severity: .medium, safety: false,
            fix: "Give the whole call one deadline that covers every attempt and stop retrying when it has passed."
        ),
        RetryRule(
            id: "CR-13", name: "IGNORES_RETRY_AFTER", severity: .medium, safety: false,
            fix: "Wait at least the Retry-After the server sent (seconds or an HTTP date) before the next attempt."
        ),
        RetryRule(
            id: "CR-14", name: "RETRIES_NONRETRYABLE", severity: .medium, safety: false,
            fix: "Do not retry deterministic failures (400, 401, 403, 404, 405, 410, 411, 413, 414, 415, 422, 501): fix the request instead."
        ),
        RetryRule(
            id: "CR-15", name: "HEDGE_NONIDEMPOTENT", severity: .high, safety: true,
            fix: "Never send a second copy of a non-idempotent request while the first is in flight; hedge only idempotent or keyed requests."
        ),
        RetryRule(
            id: "CR-17", name: "RETRY_AMPLIFICATION", severity: .high, safety: false,
            fix: "Bound retries with a budget (retries under ~10-20% of requests, a token bucket or circuit breaker) so a fault does not multiply load."
        ),
        RetryRule(
            id: "CR-19", name: "NO_TIMEOUT", severity: .high, safety: false,
            fix: "Give every attempt a timeout (from the service's p99.9 latency) and close the connection when it passes."
        ),
        RetryRule(
            id: "CR-22", name: "DUPLICATE_SUBMISSION", severity: .medium, safety: false,
            fix: "Do not send a non-idempotent request again after it succeeded; if it must be repeated safely, send the same idempotency key."
        ),
    ]

    /// The fix for a finding on a request sent through a proxy with `framing`: RESP,
    /// line and length framing carry no idempotency key, so telling their clients to
    /// send one would be no help.
    static func fix(_ id: String, framing: String?) -> String {
        guard framing != "http", let fix = Self.keylessFixes[id] else { return Self.named(id).fix }
        return fix
    }

    static let keylessFixes: [String: String] = [
        "CR-01":
            "Do not re-send a non-idempotent command after an unknown outcome: this protocol carries no idempotency key. Make the write idempotent (SET a value computed once, a unique request id the server checks, a Lua script or MULTI/EXEC that records it) or read the state to learn whether it was applied before sending it again.",
        "CR-22":
            "Do not send a non-idempotent command again after it succeeded unless you mean it to apply twice; this protocol carries no idempotency key, so a repeat that must be safe needs an idempotent write or a request id the server checks.",
        "CR-15":
            "Never send a second copy of a non-idempotent command while the first is in flight: this protocol carries no idempotency key to make the copy safe.",
    ]

    static let byID: [String: RetryRule] = Dictionary(uniqueKeysWithValues: Self.all.map { ($0.id, $0) })

    static func named(_ id: String) -> RetryRule {
        Self.byID[id]!
    }
}
