/// One thing wrong with a profile: where, and what would be valid instead.
package struct ProfileIssue: Hashable, Sendable, CustomStringConvertible {
    package var location: ProfileLocation
    package var message: String

    package init(_ location: ProfileLocation, _ message: String) {
        self.location = location
        self.message = message
    }

    /// `FILE:LINE:COLUMN: message`, the form every tool that jumps to errors reads.
    package var description: String {
        "\(self.location): \(self.message)"
    }
}
