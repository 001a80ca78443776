/// Every problem found in one or more profiles. Exit status 2: the input is bad.
///
/// Validation collects problems rather than stopping at the first, so one run of
/// `faultline profile validate` shows the author everything to fix.
package struct ProfileError: UserFacingError, Equatable {
    package var issues: [ProfileIssue]

    /// `issues` in file order: each file's (files in the order their first issue was
    /// found) by line and column, whichever check found them.
    package init(_ issues: [ProfileIssue]) {
        var files: [String] = []
        for issue in issues where !files.contains(issue.location.file) { files.append(issue.location.file) }
        self.issues = issues.enumerated().sorted { a, b in
            let (one, other) = (a.element.location, b.element.location)
            let (fileA, fileB) = (files.firstIndex(of: one.file) ?? 0, files.firstIndex(of: other.file) ?? 0)
            if fileA != fileB { return fileA < fileB }
            if (one.line ?? 0) != (other.line ?? 0) { return (one.line ?? 0) < (other.line ?? 0) }
            if (one.column ?? 0) != (other.column ?? 0) { return (one.column ?? 0) < (other.column ?? 0) }
            return a.offset < b.offset
        }.map(\.element)
    }

    package init(_ location: ProfileLocation, _ message: String) {
        self.issues = [ProfileIssue(location, message)]
    }

    package var exitStatus: Int32 { ExitStatus.badInput }

    /// One issue per line, in file order.
    package var description: String {
        self.issues.map(\.description).joined(separator: "\n")
    }
}
