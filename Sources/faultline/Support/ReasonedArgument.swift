import ArgumentParser

/// An option's value type whose parser says why a value is wrong.
///
/// ArgumentParser reads an `ExpressibleByArgument` value with a failable initialiser, so
/// a wrong one gets only "The value '5' is invalid for '--grace <duration>'". A value
/// read by `@Option(transform:)` may throw instead, and the error's description follows
/// that message after ": " ("...: a duration needs a unit: ..."). These types are not
/// `ExpressibleByArgument` on purpose: every `@Option` of one of them goes through the
/// initialisers below, so no option of theirs can lose its reason. They take the next
/// word whatever it starts with, so `--grace -1s` is refused as a negative duration,
/// not met with "Missing value".
protocol ReasonedArgument: Sendable, CustomStringConvertible {
    /// Reads `text` as written on the command line, or throws an `InvalidArgumentValue`
    /// that says what a valid one looks like.
    init(parsing text: String) throws
}

/// Why an option's value was refused: the text ArgumentParser puts after its
/// "The value 'X' is invalid for '--option <name>':".
struct InvalidArgumentValue: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}

extension Option where Value: ReasonedArgument {
    /// An option with a default. ArgumentParser shows no default for an option read by
    /// `transform:`, so the help's abstract says it, as `--help` says the others':
    /// "(default: 5s)".
    init(wrappedValue: Value, name: NameSpecification = .long, help: ArgumentHelp? = nil) {
        var help = help ?? ArgumentHelp()
        help.abstract = [help.abstract, "(default: \(wrappedValue))"].filter { !$0.isEmpty }.joined(separator: " ")
        self.init(wrappedValue: wrappedValue, name: name, parsing: .unconditional, help: help, transform: { try Value(parsing: $0) })
    }
}

extension Option {
    /// An optional option: absent means the command's own choice, which its help says.
    init<Wrapped: ReasonedArgument>(name: NameSpecification = .long, help: ArgumentHelp? = nil) where Value == Wrapped? {
        self.init(name: name, parsing: .unconditional, help: help, transform: { try Wrapped(parsing: $0) })
    }
}
