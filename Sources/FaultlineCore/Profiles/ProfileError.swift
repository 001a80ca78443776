/// Every problem found in one or more profiles. Exit status 2: the input is bad.
///
/// Validation collects problems rather than stopping at the first, so one run of
/// `faultline profile validate` shows the author everything to fix.
public struct ProfileError: UserFacingError, Equatable {
    public var issues: [ProfileIssue]

    public init(_ issues: [ProfileIssue]) {
        self.issues = issues
    }

    public init(_ location: ProfileLocation, _ message: String) {
        self.issues = [ProfileIssue(location, message)]
    }

    public var exitStatus: Int32 { ExitStatus.badInput }

    /// One issue per line, in file order.
    public var description: String {
        self.issues.map(\.description).joined(separator: "\n")
    }
}
