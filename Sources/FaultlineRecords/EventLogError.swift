import FaultlineCore

/// An event log that cannot be written or read as one.
///
/// `description` names the file and, when the trouble is in one line, `FILE:LINE`, so a
/// person can open the log at the right place. Bad input: exit 2.
package struct EventLogError: UserFacingError, Equatable {
    package var file: String
    /// The 1-based line, when one line is at fault.
    package var line: Int?
    package var message: String

    package init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    package var exitStatus: Int32 { ExitStatus.badInput }

    package var description: String {
        if let line = self.line {
            return "\(self.file):\(line): \(self.message)"
        }
        return "\(self.file): \(self.message)"
    }
}
