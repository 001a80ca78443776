import ArgumentParser
import FaultlineCore

/// A `--flag 10m` duration that must be more than 0, such as a time limit: 0 would
/// mean "at once", never "no limit", so it is refused, and so is a negative one, each
/// with that reason rather than the format's.
struct PositiveDurationArgument: ReasonedArgument {
    var duration: Duration

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
    }

    var description: String { DurationText.format(self.duration) }
}
