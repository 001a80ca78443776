/// Every problem found in one or more profiles. Exit status 2: the input is bad.
///
/// Validation collects problems rather than stopping at the first, so one run of
/// `faultline profile validate` shows the author everything to fix.
package struct ProfileError: UserFacingError, Equatable {
    package var issues: [ProfileIssue]

    package init(_ issues: [ProfileIssue]) {
        self.issues = issues
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
