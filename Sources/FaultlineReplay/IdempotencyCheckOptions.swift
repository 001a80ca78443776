import FaultlineCore

/// What `faultline check idempotency` was asked to do.
public struct IdempotencyCheckOptions: Sendable {
    /// How SR-02 (and SR-05's answer, SR-04's answers) compare two answers.
    public enum Mode: String, Sendable, CaseIterable {
        /// Status and body equal (volatile fields removed).
        case strict
        /// Same status class and the same resource id (`Location` or the body's `id`).
        case semantic
    }

    /// The only address requests go to.
    public var target: ReplayTarget
    /// `GET /accounts/1` (HTTP) or `GET counter` (RESP), read before and after each experiment.
    public var probes: [String] = []
    /// Operations to replay (names as in the report); empty: all.
    public var only: [String] = []
    /// SR-04: how many identical keyed requests race.
    public var concurrency = 5
    /// SR-01: how many times the same request is sent in a row.
    public var repeats = 3
    /// JSON paths (`$.created_at`) removed before answers are compared.
    public var ignoreFields: [String] = []
    public var mode: Mode = .strict
    public var keyHeader = "Idempotency-Key"
    /// Operations that must reject a request without a key (SR-07).
    public var keyRequired: [String] = []
    /// How long each request waits for its reply.
    public var timeout: Duration = .seconds(5)
    /// Print the requests instead of sending them.
    public var dryRun = false

    public init(target: ReplayTarget) {
        self.target = target
    }

    /// Checks what can be checked before the log is read.
    public func validate() throws {
        if self.concurrency < 2 { throw InvalidInputError("--concurrency must be at least 2, got \(self.concurrency)") }
        if self.repeats < 2 { throw InvalidInputError("repeats must be at least 2, got \(self.repeats)") }
        if self.keyHeader.isEmpty || self.keyHeader.contains(where: { $0 == ":" || $0.isWhitespace }) {
            throw InvalidInputError("--key-header '\(self.keyHeader)': give a header name, as in --key-header Idempotency-Key")
        }
        if self.timeout <= .zero { throw InvalidInputError("--timeout must be more than 0") }
        for field in self.ignoreFields where VolatileFields.parsePath(field) == nil {
            throw InvalidInputError("--ignore-field '\(field)': give a JSON path like $.created_at or $.charge.updated_at")
        }
    }

    var ignorePaths: [[String]] {
        self.ignoreFields.compactMap(VolatileFields.parsePath)
    }
}
