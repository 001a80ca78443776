import ArgumentParser
import FaultlineCore

/// A `--flag 2s` value.
struct DurationArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var duration: Duration

    init(_ duration: Duration) {
        self.duration = duration
    }

    init?(argument: String) {
        guard let duration = DurationText.parse(argument) else { return nil }
        self.duration = duration
    }

    var description: String { DurationText.format(self.duration) }
    var defaultValueDescription: String { self.description }
}
