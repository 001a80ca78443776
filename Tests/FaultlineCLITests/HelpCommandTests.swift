import FaultlineTestSupport
import Testing

/// `faultline help NAME...`: the help of a command that exists, a usage error (2) for one
/// that does not, as `faultline NAME` gives.
@Suite(.timeLimit(.minutes(1)))
struct HelpCommandTests {
    static let known: [([String], String)] = [
        ([], "OVERVIEW: A fault-injecting TCP/UDP proxy and chaos CLI."),
        (["proxy"], "OVERVIEW: Run one proxy between a client and a real service."),
        (["ctl", "create"], "OVERVIEW: Create a proxy and print it"),
        (["ctl", "create", "--help"], "OVERVIEW: Create a proxy and print it"),
    ]

    @Test(arguments: Self.known)
    func helpOfACommandPrintsItsHelp(names: [String], overview: String) async throws {
        let result = try await FaultlineBinary.run(["help"] + names)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix(overview), "\(result.stdout)")
    }

    static let unknown: [([String], String, String)] = [
        (
            ["nosuch"],
            "Error: Unknown subcommand 'nosuch': the subcommands of 'faultline' are proxy, run, serve, ctl, profile, log, check, capture, demo.",
            "See 'faultline --help' for more information."
        ),
        (
            ["ctl", "nosuch"],
            "Error: Unknown subcommand 'nosuch': the subcommands of 'faultline ctl' are list, show, create, delete, profile, rule, toxic, pcap, events, reset.",
            "See 'faultline ctl --help' for more information."
        ),
        (
            ["proxy", "nosuch"],
            "Error: Unknown subcommand 'nosuch': 'faultline proxy' has no subcommands.",
            "See 'faultline proxy --help' for more information."
        ),
    ]

    @Test(arguments: Self.unknown)
    func helpOfAnUnknownCommandIsAUsageError(names: [String], error: String, pointer: String) async throws {
        let result = try await FaultlineBinary.run(["help"] + names)
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty, "\(result.stdout)")
        let lines = result.stderr.split(separator: "\n").map { $0.trimmingPrefix(while: \.isWhitespace) }.map(String.init)
        #expect(lines.first == error, "\(result.stderr)")
        #expect(lines.count == 3 && lines[1].hasPrefix("Usage: faultline") && lines[2] == pointer, "\(result.stderr)")
    }

    /// The same status as running the unknown command itself.
    @Test func anUnknownCommandIsAUsageErrorToo() async throws {
        let result = try await FaultlineBinary.run(["nosuch"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("See 'faultline --help' for more information."), "\(result.stderr)")
    }

    /// A usage mistake found while the command runs (here, once the profile's framing is
    /// known) comes with that command's usage, as one found while parsing does, not with
    /// the top-level `faultline <subcommand>`.
    @Test func aUsageErrorFoundWhileRunningGivesItsCommandsUsage() async throws {
        let result = try await FaultlineBinary.run(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--length-prefix", "2"])
        #expect(result.status == 2)
        let lines = result.stderr.split(separator: "\n").map { $0.trimmingPrefix(while: \.isWhitespace) }.map(String.init)
        #expect(lines.first?.hasPrefix("Error: --length-prefix, --length-endian and --length-includes-prefix go with --framing length") == true)
        #expect(lines.count == 3 && lines[1].hasPrefix("Usage: faultline proxy [<options>]"), "\(result.stderr)")
        #expect(lines.last == "See 'faultline proxy --help' for more information.", "\(result.stderr)")
    }
}
