/// What a `--rules FILE` changes about `faultline check retries`: rules turned off,
/// severities and thresholds changed, operations tagged.
///
///     faultline_rules: 1
///     rules:
///       CR-08: {enabled: false}
///       CR-10: {max_attempts: 3, severity: HIGH}
///       CR-19: {max_hold: 30s}
///     operations:
///       "POST /charges": money
///       "POST /search": idempotent
///       "deposit*": non_idempotent
///
/// Operation patterns are globs (`*` any run of characters, `?` one) on the operation
/// name the report prints (`POST /charges/{id}`, `INCR`, `deposit`); the first pattern
/// that matches wins. Safety rules (CR-01, CR-03, CR-15) may be turned off or lowered,
/// but the report says so in `notes`.
package struct RuleSettings: Sendable, Equatable {
    /// What an operation is, whatever its method says.
    package enum OperationTag: String, Sendable, CaseIterable, Equatable {
        /// Safe to retry without a key (e.g. a POST that only searches).
        case idempotent
        /// Unsafe to retry without a key.
        case nonIdempotent = "non_idempotent"
        /// Unsafe to retry, and moves money or has another side effect that must
        /// happen once: CR-01 becomes CRIT.
        case money
    }

    /// One rule's changes; nil fields keep the default.
    package struct RuleOverride: Sendable, Equatable {
        package var enabled: Bool?
        package var severity: Severity?
        /// Thresholds by key (`max_attempts`, `max_hold` ...), as numbers (durations in
        /// nanoseconds).
        package var thresholds: [String: Double]
        /// Where the override is written, for notes.
        package var location: String?

        package init(enabled: Bool? = nil, severity: Severity? = nil, thresholds: [String: Double] = [:], location: String? = nil) {
            self.enabled = enabled
            self.severity = severity
            self.thresholds = thresholds
            self.location = location
        }
    }

    package struct OperationPattern: Sendable, Equatable {
        package var pattern: String
        package var tag: OperationTag

        package init(pattern: String, tag: OperationTag) {
            self.pattern = pattern
            self.tag = tag
        }
    }

    /// The file the settings came from (for notes), nil for the defaults.
    package var file: String?
    /// Overrides by rule id (`CR-10`).
    package var rules: [String: RuleOverride]
    /// Operation tags, in file order (first match wins).
    package var operations: [OperationPattern]

    package init(file: String? = nil, rules: [String: RuleOverride] = [:], operations: [OperationPattern] = []) {
        self.file = file
        self.rules = rules
        self.operations = operations
    }

    /// Whether rule `id` runs.
    package func isEnabled(_ id: String) -> Bool {
        self.rules[id]?.enabled ?? true
    }

    /// The severity findings of rule `id` get, given its default.
    package func severity(_ id: String, default value: Severity) -> Severity {
        self.rules[id]?.severity ?? value
    }

    /// A threshold of rule `id` (durations in nanoseconds), or `value` when not set.
    package func threshold(_ id: String, _ key: String, default value: Double) -> Double {
        self.rules[id]?.thresholds[key] ?? value
    }

    /// The tag of the first pattern matching `operation`, if any.
    package func tag(of operation: String) -> OperationTag? {
        self.operations.first { Self.glob($0.pattern, matches: operation) }?.tag
    }

    /// `*` matches any run of characters (also none), `?` exactly one; all else itself.
    static func glob(_ pattern: String, matches text: String) -> Bool {
        let p = Array(pattern), t = Array(text)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

extension RuleSettings {
    /// The kind of value a threshold key takes.
    enum ThresholdKind {
        case count
        case number(ClosedRange<Double>)
        case duration
    }

    /// The thresholds each rule accepts in a rules file (besides `enabled` and
    /// `severity`), with their kind.
    static let thresholdKeys: [String: [String: ThresholdKind]] = [
        "CR-01": [:],
        "CR-03": [:],
        "CR-04": [:],
        "CR-06": ["min_gap": .duration, "max_share": .number(0...1)],
        "CR-07": ["min_growth": .number(1...100), "min_requests": .count],
        "CR-08": ["max_cv": .number(0...10), "min_samples": .count],
        "CR-09": ["max_delay": .duration],
        "CR-10": ["max_attempts": .count],
        "CR-12": ["tolerance": .duration, "max_span": .duration],
        "CR-13": ["tolerance": .duration],
        "CR-14": ["min_share": .number(0...1)],
        "CR-15": [:],
        "CR-17": ["max_amplification": .number(1...1000), "min_requests": .count],
        "CR-19": ["max_hold": .duration],
        "CR-22": [:],
    ]
}
