import FaultlineCore

/// What `faultline check idempotency` was asked to do.
package struct IdempotencyCheckOptions: Sendable {
    /// How SR-02 (and SR-05's answer, SR-04's answers) compare two answers.
    package enum Mode: String, Sendable, CaseIterable {
        /// Status and body equal (volatile fields removed).
        case strict
        /// Same status class and the same resource id (`Location` or the body's `id`).
        case semantic
    }

    /// The only address requests go to.
    package var target: ReplayTarget
    /// `GET /accounts/1` (HTTP) or `GET counter` (RESP), read before and after each experiment.
    package var probes: [String] = []
    /// Operations to replay (names as in the report); empty: all.
    package var only: [String] = []
    /// SR-04: how many identical keyed requests race.
    package var concurrency = 5
    /// SR-01: how many times the same request is sent in a row.
    package var repeats = 3
    /// JSON paths (`$.created_at`) removed before answers are compared.
    package var ignoreFields: [String] = []
    package var mode: Mode = .strict
    package var keyHeader = "Idempotency-Key"
    /// Operations that must reject a request without a key (SR-07).
    package var keyRequired: [String] = []
    /// How long each request waits for its reply.
    package var timeout: Duration = .seconds(5)
    /// Print the requests instead of sending them.
    package var dryRun = false

    package init(target: ReplayTarget) {
        self.target = target
    }

    /// Checks what can be checked before the log is read.
    package func validate() throws {
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
