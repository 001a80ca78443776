/// What `faultline check retries` is asked to judge, and how: the flags of the command.
///
/// Everything has a default, so `RetryCheckOptions()` checks a log as the rule book's
/// defaults say (docs/checker.md). `settings` (from `--rules FILE`) can change thresholds
/// and severities per rule and tag operations; a changed default is written to the
/// report's `notes`.
package struct RetryCheckOptions: Sendable {
    /// The request header that carries the idempotency key. The log records
    /// `Idempotency-Key` as `idempotency_key`; any other header is read from `payload`,
    /// so its log must be recorded with `--record-payloads`.
    package var keyHeader: String
    /// CR-10: the most attempts a logical request may take (default 5; gRPC clamps to 5).
    package var maxAttempts: Int
    /// CR-12: the caller's deadline across all attempts of a logical request; nil when
    /// the caller has none (then only a retry span over 60 s is flagged, LOW).
    package var deadline: Duration?
    /// A request joins a logical request when it comes within `window` of the previous
    /// attempt's end (docs/checker.md, grouping; default 60 s, the proxy's own ledger window).
    package var window: Duration
    /// From `--rules FILE`.
    package var settings: RuleSettings

    package init(
        keyHeader: String = "Idempotency-Key",
        maxAttempts: Int = 5,
        deadline: Duration? = nil,
        window: Duration = .seconds(60),
        settings: RuleSettings = RuleSettings()
    ) {
        self.keyHeader = keyHeader
        self.maxAttempts = maxAttempts
        self.deadline = deadline
        self.window = window
        self.settings = settings
    }
}
