import FaultlineCore

/// An event log that cannot be written or read as one.
///
/// `description` names the file and, when the trouble is in one line, `FILE:LINE`, so a
/// person can open the log at the right place. Bad input: exit 2.
public struct EventLogError: UserFacingError, Equatable {
    public var file: String
    /// The 1-based line, when one line is at fault.
    public var line: Int?
    public var message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var exitStatus: Int32 { ExitStatus.badInput }

    public var description: String {
        if let line = self.line {
            return "\(self.file):\(line): \(self.message)"
        }
        return "\(self.file): \(self.message)"
    }
}
