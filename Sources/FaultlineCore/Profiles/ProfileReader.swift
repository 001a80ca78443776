import Yams

/// Reads values out of a composed YAML tree and keeps every problem it meets, each with
/// the line and column of the node at fault.
///
/// Yams' node API (`Yams.compose`) keeps libyaml's marks on every node, which the
/// `Decodable` route loses; that is why profiles are read by hand. A getter that meets a
/// bad value records an issue and returns nil, so the caller carries on and one pass
/// finds every mistake in the file.
package final class ProfileReader {
    /// The file name used in every location (as the user wrote it).
    package let file: String
    package private(set) var issues: [ProfileIssue] = []

    package init(file: String) {
        self.file = file
    }

    /// Where `node` starts in the file.
    package func location(of node: Node?) -> ProfileLocation {
        guard let mark = node?.mark else { return ProfileLocation(file: self.file) }
        return ProfileLocation(file: self.file, line: mark.line, column: mark.column)
    }

    /// Records a problem at `node`.
    package func fail(_ node: Node?, _ message: String) {
        self.issues.append(ProfileIssue(self.location(of: node), message))
    }

    /// Records a problem at an already-known location.
    package func fail(at location: ProfileLocation, _ message: String) {
        self.issues.append(ProfileIssue(location, message))
    }

    /// Takes the issues of a nested reader (another file) as they are.
    func absorb(_ issues: [ProfileIssue]) {
        self.issues.append(contentsOf: issues)
    }

    // MARK: Mappings

    /// A mapping whose keys are all in `allowed`; unknown keys are reported (with the
    /// valid ones listed) and left out. Returns nil, after reporting, when `node` is not
    /// a mapping.
    package func mapping(_ node: Node, what: String, allowed: [String]) -> Fields? {
        guard case .mapping(let mapping) = node else {
            self.fail(node, "\(what) must be a mapping (key: value lines), got \(Self.describe(node))")
            return nil
        }
        var fields = Fields(node: node)
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                self.fail(key, "\(what): keys must be plain words")
                continue
            }
            guard allowed.contains(name) else {
                let suggestion = Self.closest(to: name, in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
                self.fail(key, "unknown key '\(name)' in \(what)\(suggestion); valid keys: \(allowed.joined(separator: ", "))")
                continue
            }
            fields.entries[name] = (key, value)
        }
        return fields
    }

    /// The keys found in a mapping, with their key and value nodes.
    package struct Fields {
        /// The mapping node itself, where "missing key" problems point.
        package let node: Node
        var entries: [String: (key: Node, value: Node)] = [:]

        package subscript(_ name: String) -> Node? {
            self.entries[name]?.value
        }

        package func key(_ name: String) -> Node? {
            self.entries[name]?.key
        }

        package func has(_ name: String) -> Bool {
            self.entries[name] != nil
        }
    }

    /// The value of a key that must be there; reports its absence at the mapping.
    package func required(_ fields: Fields, _ name: String, what: String) -> Node? {
        if let value = fields[name] { return value }
        self.fail(fields.node, "\(what) needs '\(name)'")
        return nil
    }

    // MARK: Scalars

    /// A string scalar (quoted or plain; numbers and booleans are refused where text is
    /// expected only when `strict`).
    package func string(_ node: Node, what: String) -> String? {
        guard case .scalar(let scalar) = node else {
            self.fail(node, "\(what) must be text, got \(Self.describe(node))")
            return nil
        }
        return scalar.string
    }

    /// A non-empty string.
    package func nonEmptyString(_ node: Node, what: String) -> String? {
        guard let text = self.string(node, what: what) else { return nil }
        if text.trimmingSpaces.isEmpty {
            self.fail(node, "\(what) must not be empty")
            return nil
        }
        return text
    }

    /// An integer within `range`.
    package func integer(_ node: Node, what: String, in range: ClosedRange<Int> = 0...Int.max) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any,
            let value = Int(scalar.string.replacingUnderscores)
        else {
            self.fail(node, "\(what) must be a whole number, got \(Self.describe(node))")
            return nil
        }
        guard range.contains(value) else {
            self.fail(node, "\(what) must be \(Self.describe(range)), got \(value)")
            return nil
        }
        return value
    }

    /// A number (integer or decimal) within `range`.
    package func number(_ node: Node, what: String, in range: ClosedRange<Double>) -> Double? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any,
            let value = Double(scalar.string), value.isFinite
        else {
            self.fail(node, "\(what) must be a number, got \(Self.describe(node))")
            return nil
        }
        guard range.contains(value) else {
            self.fail(node, "\(what) must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound)), got \(scalar.string)")
            return nil
        }
        return value
    }

    /// `true` or `false`.
    package func boolean(_ node: Node, what: String) -> Bool? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else {
            self.fail(node, "\(what) must be true or false, got \(Self.describe(node))")
            return nil
        }
        switch scalar.string {
        case "true", "True", "TRUE", "yes": return true
        case "false", "False", "FALSE", "no": return false
        default:
            self.fail(node, "\(what) must be true or false, got '\(scalar.string)'")
            return nil
        }
    }

    /// A duration as `DurationText` reads it ("150ms", "2s", "1m"), at most
    /// `DurationText.maximum` (7 days).
    package func duration(_ node: Node, what: String) -> Duration? {
        guard case .scalar(let scalar) = node, let nanoseconds = DurationText.nanoseconds(scalar.string) else {
            self.fail(node, "\(what) must be a duration, \(DurationText.help); got \(Self.describe(node))")
            return nil
        }
        guard nanoseconds <= Double(DurationText.maximum.nanoseconds), let value = DurationText.parse(scalar.string) else {
            self.fail(node, "\(what) must be at most \(DurationText.maximumText), got \(Self.describe(node))")
            return nil
        }
        return value
    }

    /// One of a fixed set of words.
    package func choice<Value: RawRepresentable<String> & CaseIterable>(
        _ node: Node,
        what: String,
        as type: Value.Type = Value.self
    ) -> Value? {
        let valid = Value.allCases.map(\.rawValue)
        guard case .scalar(let scalar) = node, let value = Value(rawValue: scalar.string) else {
            self.fail(node, "\(what) must be one of \(valid.joined(separator: ", ")); got \(Self.describe(node))")
            return nil
        }
        return value
    }

    /// A sequence's items; a single scalar is accepted as a one-item list when
    /// `singleAllowed`.
    package func list(_ node: Node, what: String, singleAllowed: Bool = false) -> [Node]? {
        switch node {
        case .sequence(let sequence):
            return Array(sequence)
        case .scalar where singleAllowed:
            return [node]
        default:
            self.fail(node, "\(what) must be a list, got \(Self.describe(node))")
            return nil
        }
    }

    // MARK: Wording

    /// How a node looks, for "got ..." in messages.
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) { return "nothing" }
            return "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    static func describe(_ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "at least \(range.lowerBound)" }
        return "between \(range.lowerBound) and \(range.upperBound)"
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// The valid word nearest to a misspelling, if one is close (edit distance ≤ 2).
    static func closest(to word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, Self.editDistance(word, $0)) }.filter { $0.1 <= 2 }
        return scored.min(by: { $0.1 < $1.1 })?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

@available(*, unavailable)
extension ProfileReader: Sendable {}

extension String {
    fileprivate var replacingUnderscores: String {
        String(self.filter { $0 != "_" })
    }
}
