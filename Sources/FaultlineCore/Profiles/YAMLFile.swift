import Yams

/// One of faultline's YAML files (a profile, a run file, a checker's rules file) composed
/// into nodes: its shape bounded first (`ProfileShape`: no alias bomb, no nesting that
/// recurses without end, whatever the file), and what stops it said with the file, line
/// and column.
package enum YAMLFile {
    /// The document's root node (nil for an empty document).
    ///
    /// - Parameter kind: what the file is, for messages ("a run file").
    /// - Throws: why there is none, as one issue.
    package static func compose(_ text: String, file: String, kind: String) throws(ProfileError) -> Node? {
        if let refused = ProfileShape.problem(in: text, kind: kind) {
            throw ProfileError(ProfileLocation(file: file, line: refused.line, column: refused.column), refused.message)
        }
        do {
            return try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ProfileError([Self.issue(for: error, file: file)])
        } catch {
            throw ProfileError(ProfileLocation(file: file), "not valid YAML: \(error)")
        }
    }

    static func issue(for error: YamlError, file: String) -> ProfileIssue {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let extra = context.map { " (\($0.text) at line \($0.mark.line))" } ?? ""
            return ProfileIssue(ProfileLocation(file: file, line: mark.line, column: mark.column), "not valid YAML: \(problem)\(extra)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ProfileIssue(
                ProfileLocation(file: file, line: context.mark.line, column: context.mark.column),
                "duplicate key '\(duplicates.joined(separator: "', '"))': each key may appear once per mapping"
            )
        case .reader(let problem, _, _, _):
            return ProfileIssue(ProfileLocation(file: file), "cannot read the file: \(problem)")
        default:
            return ProfileIssue(ProfileLocation(file: file), "not valid YAML: \(error)")
        }
    }
}
