import ArgumentParser
import FaultlineCore

/// `faultline profile`: the shareable fault files: list, show, validate, explain.
struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "List, show, validate and explain fault profiles.",
        discussion: """
            A profile names what goes wrong, never which hosts. NAME is a profile in a \
            folder of FAULTLINE_PROFILE_PATH (colon-separated; NAME.yaml, .yml or .json) \
            or in the library built into faultline; anything with a '/' or a .yaml, .yml \
            or .json ending is a file. The format is described in faultline-profile(5).
            """,
        subcommands: [List.self, Show.self, Validate.self, Explain.self]
    )
}

extension ProfileCommand {
    /// `faultline profile list`
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the profiles that can be named, with what each simulates."
        )

        func run() throws {
            let loader = ProfileLoader.fromEnvironment()
            let entries = loader.catalog()
            let width = entries.map(\.name.count).max() ?? 0
            for entry in entries {
                let summary: String
                if let profile = try? loader.load(text: entry.text, file: entry.origin) {
                    summary = ProfileExplainer.firstSentence(of: profile.description)
                } else {
                    summary = "(does not validate: run 'faultline profile validate \(entry.origin)')"
                }
                let origin = entry.origin == "shipped" ? "" : "  [\(entry.origin)]"
                Output.line(entry.name + String(repeating: " ", count: width - entry.name.count) + "  " + summary + origin)
            }
        }
    }

    /// `faultline profile show NAME`
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a profile's text as written."
        )

        @Argument(help: ArgumentHelp("A library name or a file.", valueName: "name|file"))
        var profile: String

        func run() throws {
            let (origin, text) = try ProfileLoader.fromEnvironment().text(of: self.profile)
            printError("# \(origin)")
            Output.line(text.hasSuffix("\n") ? String(text.dropLast()) : text)
        }
    }

    /// `faultline profile validate FILE...`
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check profiles and report every problem as FILE:LINE:COLUMN: message.",
            discussion: "Checks every file given, reports all problems (not just the first), and exits 2 if any file has one."
        )

        @Argument(help: ArgumentHelp("Profile files or library names.", valueName: "file"))
        var files: [String]

        func validate() throws {
            if self.files.isEmpty { throw ValidationError("give at least one profile file") }
        }

        func run() throws {
            let loader = ProfileLoader.fromEnvironment()
            var failed = 0
            for file in self.files {
                do {
                    let profile = try loader.load(file)
                    Output.line("\(file): ok (\(profile.name), \(profile.rules.count) rule\(profile.rules.count == 1 ? "" : "s"))")
                } catch let error as ProfileError {
                    failed += 1
                    for issue in error.issues {
                        printError(issue.description)
                    }
                }
            }
            if failed > 0 {
                printError("faultline: \(failed) of \(self.files.count) profile\(self.files.count == 1 ? "" : "s") invalid")
                throw ExitCode(ExitStatus.badInput)
            }
        }
    }

    /// `faultline profile explain NAME|FILE`
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say in plain words what a profile does to traffic and what a correct client should do."
        )

        @Argument(help: ArgumentHelp("A library name or a file.", valueName: "name|file"))
        var profile: String

        func run() throws {
            let profile = try ProfileLoader.fromEnvironment().load(self.profile)
            Output.line(ProfileExplainer.explain(profile))
        }
    }
}
