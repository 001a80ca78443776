import ArgumentParser
import FaultlineCore

/// A `--flag 2s` value: a number and a unit (see `DurationText`).
struct DurationArgument: ReasonedArgument {
    var duration: Duration

    init(_ duration: Duration) {
        self.duration = duration
    }

    init(parsing text: String) throws {
        guard let duration = DurationText.parse(text) else {
            // A bare number is the likeliest slip ("--grace 5"): say that a unit is missing.
            let bare = Double(text) != nil
            throw InvalidArgumentValue(
                bare
                    ? "a duration needs a unit: a number and ns, us, ms, s, m or h (for example 150ms, 2s, 1m)"
                    : "a duration is \(DurationText.help)"
            )
        }
        self.duration = duration
    }

    var description: String { DurationText.format(self.duration) }
}
