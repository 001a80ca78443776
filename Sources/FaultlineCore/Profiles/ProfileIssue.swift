/// A place in a profile file, as editors and compilers print it: `FILE:LINE:COLUMN`.
///
/// Lines and columns count from 1 (libyaml's marks, which Yams passes on). A location
/// without a line names the whole file (it could not be read, or it is empty).
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?

    public init(file: String, line: Int? = nil, column: Int? = nil) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String {
        guard let line = self.line else { return self.file }
        return "\(self.file):\(line):\(self.column ?? 1)"
    }
}

/// One thing wrong with a profile: where, and what would be valid instead.
public struct ProfileIssue: Hashable, Sendable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String

    public init(_ location: SourceLocation, _ message: String) {
        self.location = location
        self.message = message
    }

    /// `FILE:LINE:COLUMN: message`, the form every tool that jumps to errors reads.
    public var description: String {
        "\(self.location): \(self.message)"
    }
}

/// Every problem found in one or more profiles. Exit status 2: the input is bad.
///
/// Validation collects problems rather than stopping at the first, so one run of
/// `faultline profile validate` shows the author everything to fix.
public struct ProfileError: UserFacingError, Equatable {
    public var issues: [ProfileIssue]

    public init(_ issues: [ProfileIssue]) {
        self.issues = issues
    }

    public init(_ location: SourceLocation, _ message: String) {
        self.issues = [ProfileIssue(location, message)]
    }

    public var exitStatus: Int32 { ExitStatus.badInput }

    /// One issue per line, in file order.
    public var description: String {
        self.issues.map(\.description).joined(separator: "\n")
    }
}
