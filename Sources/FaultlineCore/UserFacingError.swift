/// An error meant for the person at the terminal.
///
/// `description` says what is wrong, where (`FILE:LINE:COLUMN` when there is a file)
/// and what would be valid. Only the CLI root turns it into an exit status; library
/// code throws and never exits.
public protocol UserFacingError: Error, CustomStringConvertible {
    /// The status the process exits with, as the README's "Exit status" table lists them.
    var exitStatus: Int32 { get }
}

/// The exit statuses every command shares (the README, "Exit status").
public enum ExitStatus {
    /// Everything ran and every check passed.
    public static let ok: Int32 = 0
    /// A check found violations.
    public static let violations: Int32 = 1
    /// Bad usage, a bad profile or a bad input file.
    public static let badInput: Int32 = 2
    /// A runtime failure: port in use, upstream unreachable at start, capture refused.
    public static let runtime: Int32 = 3
}

/// A value given on the command line or in a file that cannot be used as written.
public struct InvalidInputError: UserFacingError {
    public var message: String
    public var exitStatus: Int32 { ExitStatus.badInput }
    public var description: String { self.message }

    public init(_ message: String) {
        self.message = message
    }
}

/// Something failed while running that the input could not have prevented.
public struct RuntimeFailure: UserFacingError {
    public var message: String
    public var exitStatus: Int32 { ExitStatus.runtime }
    public var description: String { self.message }

    public init(_ message: String) {
        self.message = message
    }
}
