import FaultlineCore
import Foundation
import Yams

/// Every problem found in a `--rules` file, one `FILE:LINE:COLUMN: message` per line.
/// Exit status 2: the input is bad.
package struct RuleSettingsError: UserFacingError, Equatable {
    package var issues: [ProfileIssue]

    package init(_ issues: [ProfileIssue]) {
        self.issues = issues
    }

    package var exitStatus: Int32 { ExitStatus.badInput }

    package var description: String {
        self.issues.map(\.description).joined(separator: "\n")
    }
}

extension RuleSettings {
    /// The current format version of a rules file (`faultline_rules: 1`).
    package static let formatVersion = 1
    static let topKeys = ["faultline_rules", "rules", "operations"]

    /// Reads a rules file.
    ///
    /// - Throws: `RuleSettingsError` (exit status 2) naming every problem with its
    ///   `FILE:LINE:COLUMN`: unknown rule ids or keys, bad values, bad YAML.
    package static func load(path: String) throws -> RuleSettings {
        // Read only up to the size a profile may have: a 40 MB rules file took 14 s and
        // 1.4 GB to refuse (or accept).
        let handle = FileHandle(forReadingAtPath: path)
        defer { try? handle?.close() }
        guard let handle, let data = try? handle.read(upToCount: ProfileLoader.maxFileBytes + 1) ?? Data() else {
            throw RuleSettingsError([ProfileIssue(ProfileLocation(file: path), "cannot read the rules file '\(path)'")])
        }
        guard data.count <= ProfileLoader.maxFileBytes else {
            throw RuleSettingsError([
                ProfileIssue(
                    ProfileLocation(file: path),
                    "the rules file is larger than \(ProfileLoader.maxFileBytes / 1024 / 1024) MiB; a rules file is a small text file"
                )
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RuleSettingsError([ProfileIssue(ProfileLocation(file: path), "the rules file is not UTF-8 text")])
        }
        return try Self.parse(text, file: path)
    }

    /// Reads rules-file text; `file` names it in errors.
    package static func parse(_ text: String, file: String) throws -> RuleSettings {
        let reader = ProfileReader(file: file)
        var settings = RuleSettings(file: file)
        let root: Node?
        do {
            root = try YAMLFile.compose(text, file: file, kind: "a rules file")
        } catch {
            throw RuleSettingsError(error.issues)
        }
        guard let root else {
            throw RuleSettingsError([
                ProfileIssue(ProfileLocation(file: file, line: 1, column: 1), "the file is empty; a rules file starts with 'faultline_rules: 1'")
            ])
        }
        guard let top = reader.mapping(root, what: "a rules file", allowed: Self.topKeys) else {
            throw RuleSettingsError(reader.issues)
        }
        if let version = reader.required(top, "faultline_rules", what: "a rules file (format version, 'faultline_rules: 1')"),
            let number = reader.integer(version, what: "faultline_rules (the format version)"), number != Self.formatVersion
        {
            reader.fail(version, "unsupported rules format version \(number); this build reads 'faultline_rules: \(Self.formatVersion)'")
        }
        if let rulesNode = top["rules"] {
            Self.readRules(rulesNode, into: &settings, reader: reader)
        }
        if let operationsNode = top["operations"] {
            Self.readOperations(operationsNode, into: &settings, reader: reader)
        }
        if !reader.issues.isEmpty { throw RuleSettingsError(reader.issues) }
        return settings
    }

    private static func readRules(_ node: Node, into settings: inout RuleSettings, reader: ProfileReader) {
        guard case .mapping(let mapping) = node else {
            reader.fail(node, "rules must be a mapping of rule ids (CR-10: {max_attempts: 3}), got \(Self.describe(node))")
            return
        }
        let known = Self.thresholdKeys.keys.sorted()
        for (key, value) in mapping {
            guard let id = key.scalar?.string, let thresholds = Self.thresholdKeys[id] else {
                let name = key.scalar?.string ?? "?"
                reader.fail(key, "unknown rule '\(name)'; this check knows \(known.joined(separator: ", "))")
                continue
            }
            let allowed = ["enabled", "severity"] + thresholds.keys.sorted()
            guard let fields = reader.mapping(value, what: "rule \(id)", allowed: allowed) else { continue }
            var override = RuleOverride(location: reader.location(of: key).description)
            if let enabled = fields["enabled"] {
                override.enabled = reader.boolean(enabled, what: "\(id).enabled")
            }
            if let severity = fields["severity"] {
                override.severity = reader.choice(severity, what: "\(id).severity", as: Severity.self)
            }
            for (name, kind) in thresholds.sorted(by: { $0.key < $1.key }) {
                guard let item = fields[name] else { continue }
                switch kind {
                case .count:
                    if let value = reader.integer(item, what: "\(id).\(name)", in: 1...1_000_000) { override.thresholds[name] = Double(value) }
                case .number(let range):
                    if let value = reader.number(item, what: "\(id).\(name)", in: range) { override.thresholds[name] = value }
                case .duration:
                    if let value = reader.duration(item, what: "\(id).\(name)") { override.thresholds[name] = Double(value.nanoseconds) }
                }
            }
            settings.rules[id] = override
        }
    }

    private static func readOperations(_ node: Node, into settings: inout RuleSettings, reader: ProfileReader) {
        guard case .mapping(let mapping) = node else {
            reader.fail(node, "operations must be a mapping of operation patterns to tags (\"POST /charges\": money), got \(Self.describe(node))")
            return
        }
        for (key, value) in mapping {
            guard let pattern = key.scalar?.string, !pattern.isEmpty else {
                reader.fail(key, "an operation pattern must be text, such as \"POST /charges\" or \"deposit*\"")
                continue
            }
            guard let tag = reader.choice(value, what: "operation '\(pattern)'", as: OperationTag.self) else { continue }
            settings.operations.append(OperationPattern(pattern: pattern, tag: tag))
        }
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): "'\(scalar.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}
