/// One thing wrong with a profile: where, and what would be valid instead.
public struct ProfileIssue: Hashable, Sendable, CustomStringConvertible {
    public var location: ProfileLocation
    public var message: String

    public init(_ location: ProfileLocation, _ message: String) {
        self.location = location
        self.message = message
    }

    /// `FILE:LINE:COLUMN: message`, the form every tool that jumps to errors reads.
    public var description: String {
        "\(self.location): \(self.message)"
    }
}
