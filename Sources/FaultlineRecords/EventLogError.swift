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

    /// A log with no event at all (0 bytes, or blank lines): what a proxy that never
    /// started, or was killed before its first write, leaves. Nothing in it can be
    /// judged, and a check that passed it would pass a run it never saw.
    package static func empty(_ file: String) -> EventLogError {
        EventLogError(
            file: file, line: nil,
            message: "the log is empty: no events to judge (a proxy's log has at least proxy_start; this one never started, or was killed or failed before it wrote)"
        )
    }

    package var description: String {
        if let line = self.line {
            return "\(self.file):\(line): \(self.message)"
        }
        return "\(self.file): \(self.message)"
    }
}
