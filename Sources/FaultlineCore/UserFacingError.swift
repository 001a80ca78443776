/// An error meant for the person at the terminal.
///
/// `description` says what is wrong, where (`FILE:LINE:COLUMN` when there is a file)
/// and what would be valid. Only the CLI root turns it into an exit status; library
/// code throws and never exits.
package protocol UserFacingError: Error, CustomStringConvertible {
    /// The status the process exits with, as the README's "Exit status" table lists them.
    var exitStatus: Int32 { get }
}

/// The exit statuses every command shares (the README, "Exit status").
package enum ExitStatus {
    /// Everything ran and every check passed.
    package static let ok: Int32 = 0
    /// A check found violations.
    package static let violations: Int32 = 1
    /// Bad usage, a bad profile or a bad input file.
    package static let badInput: Int32 = 2
    /// A runtime failure: port in use, upstream unreachable at start, capture refused.
    package static let runtime: Int32 = 3
}

/// A value given on the command line or in a file that cannot be used as written.
package struct InvalidInputError: UserFacingError {
    package var message: String
    package var exitStatus: Int32 { ExitStatus.badInput }
    package var description: String { self.message }

    package init(_ message: String) {
        self.message = message
    }
}

/// Something failed while running that the input could not have prevented.
package struct RuntimeFailure: UserFacingError {
    package var message: String
    package var exitStatus: Int32 { ExitStatus.runtime }
    package var description: String { self.message }

    package init(_ message: String) {
        self.message = message
    }
}

extension String {
    /// This text with every control character (C0, DEL, C1) written as `\xNN`, `\r` and
    /// `\n` as themselves escaped, or line breaks and tabs kept with `keepingLineBreaks`:
    /// text from a log, a file or traffic, printed on a terminal, can then never move
    /// the cursor, set the window's title or colour what follows.
    package func escapingControls(keepingLineBreaks: Bool = false) -> String {
        func isControl(_ scalar: Unicode.Scalar) -> Bool {
            if keepingLineBreaks, scalar == "\n" || scalar == "\t" { return false }
            return scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value)
        }
        guard self.unicodeScalars.contains(where: isControl) else { return self }
        var out = ""
        for scalar in self.unicodeScalars {
            switch scalar {
            case "\r" where isControl(scalar): out += "\\r"
            case "\n" where isControl(scalar): out += "\\n"
            case _ where isControl(scalar):
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "\\x" + String(repeating: "0", count: max(0, 2 - hex.count)) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
