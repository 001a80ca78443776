import ArgumentParser
import FaultlineCore

/// A `--flag 10m` duration that must be more than 0, such as a time limit: 0 would
/// mean "at once", never "no limit", so it is refused, and so is a negative one, each
/// with that reason rather than the format's.
struct PositiveDurationArgument: ReasonedArgument {
    var duration: Duration
    /// The text as the command line gave it, when it did: what a command given back
    /// (`run`'s replay line) repeats, so it is the very command the user typed.
    var written: String?

    init(_ duration: Duration) {
        self.duration = duration
    }

    init(parsing text: String) throws {
        if text.hasPrefix("-"), DurationText.parse(String(text.dropFirst())) != nil {
            throw InvalidArgumentValue("the duration must be more than 0")
        }
        let duration = try DurationArgument(parsing: text).duration
        guard duration > .zero else { throw InvalidArgumentValue("the duration must be more than 0") }
        self.duration = duration
        self.written = text
    }

    /// The duration in the shortest form that reads back to exactly the same value
    /// (`70s`, never `1.167m`): help's defaults and messages.
    var description: String { DurationText.exact(self.duration) }

    /// For a command line given back: the text as written, else `description`. Either
    /// parses to exactly this duration.
    var argument: String { self.written ?? self.description }
}
