import FaultlineTestSupport
import Foundation
import Testing

/// man/faultline.1 (written by `make man`) says what `faultline --help` says: the exit
/// statuses in EXIT STATUS, and the defaults.
@Suite(.timeLimit(.minutes(1)))
struct ManPageTests {
    static let page = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("man/faultline.1")

    @Test func exitStatusIsTheTopLevelHelpsNotTheGeneratorsGenericOne() async throws {
        let help = try await FaultlineBinary.run(["--help"])
        let words = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let statuses = try #require(words.firstRange(of: "Exit status: ").map { words[$0.upperBound...] })
            .prefix { $0 != "U" }  // up to "USAGE:"
        let page = try String(contentsOf: Self.page, encoding: .utf8)
        let section = try #require(page.firstRange(of: ".Sh \"EXIT STATUS\"\n").map { page[$0.upperBound...] })
        #expect(!section.contains(".Ex -std"), "\(section)")
        for status in ["0 fine", "1 a check found violations", "2 bad usage, a bad profile", "3 a runtime failure"] {
            #expect(statuses.contains(status), "\(statuses)")
            let (number, meaning) = (status.prefix(1), status.dropFirst(2))
            #expect(section.contains(".It \(number)\n\(meaning.prefix(1).uppercased())\(meaning.dropFirst())"), "\(section)")
        }
    }

    @Test func optionsShowTheirDefaults() throws {
        let page = try String(contentsOf: Self.page, encoding: .utf8)
        for line in [
            ".It Fl -grace Ar duration\nHow long open connections may finish after SIGINT, SIGTERM or SIGHUP; a second signal ends it. (default: 5s)",
            ".It Fl -name Ar name\nName of this proxy in logs and events. (default: proxy)",
            ".It Fl -max-attempts Ar n\nCR-10: the most attempts a logical request may take; also CR-17's limit on a client's mean attempts per request that met a fault. (default: 5)",
        ] {
            #expect(page.contains(line), "\(line)")
        }
    }
}
