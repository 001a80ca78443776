import ArgumentParser
import FaultlineCore

/// A `--flag 2s` value: a number and a unit (see `DurationText`).
struct DurationArgument: ReasonedArgument {
    var duration: Duration
    /// The text as the command line gave it, when it did: what a command given back
    /// (`run`'s replay line) repeats, so it is the very command the user typed.
    var written: String?

    init(_ duration: Duration) {
        self.duration = duration
    }

    init(parsing text: String) throws {
        // Duration options take a value that starts with "-" (`--grace -1s`), so that it
        // is refused for what it is, not met with "Missing value".
        if text.hasPrefix("-"), DurationText.parse(String(text.dropFirst())) != nil {
            throw InvalidArgumentValue("a duration cannot be negative")
        }
        guard let duration = DurationText.parse(text) else {
            if DurationText.nanoseconds(text) != nil {
                // A number and a unit, beyond what a duration holds.
                throw InvalidArgumentValue("a duration must be shorter than 292 years")
            }
            // A bare number is the likeliest slip ("--grace 5"): say that a unit is missing.
            let bare = Double(text) != nil
            throw InvalidArgumentValue(
                bare
                    ? "a duration needs a unit: a number and ns, us, ms, s, m or h (for example 150ms, 2s, 1m)"
                    : "a duration is \(DurationText.help)"
            )
        }
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
