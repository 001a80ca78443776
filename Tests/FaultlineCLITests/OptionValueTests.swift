import FaultlineTestSupport
import Testing

/// Duration and size options, as a user mistypes them: the usage error says why the value
/// is wrong, and `--help` still shows each option's default.
@Suite(.timeLimit(.minutes(1)))
struct OptionValueTests {
    static let needsUnit = "a duration needs a unit: a number and ns, us, ms, s, m or h (for example 150ms, 2s, 1m)"
    static let notADuration = "a duration is a number and a unit: ns, us, ms, s, m or h (for example 150ms, 2s, 1m)"
    static let notASize = "a size is a whole number and an optional unit K, M or G (for example 64K, 100M, 1G)"
    static let proxy = ["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"]

    /// Every duration and size option there is (the arguments, the option, the value, the reason).
    static let cases: [([String], String, String, String)] = [
        (Self.proxy, "--grace", "5", Self.needsUnit),
        (Self.proxy, "--connect-timeout", "1.5", Self.needsUnit),
        (Self.proxy, "--udp-idle-timeout", "five", Self.notADuration),
        (Self.proxy, "--max-hold", "2", Self.needsUnit),
        (Self.proxy, "--pcap-max-size", "1T", Self.notASize),
        (Self.proxy, "--pcap-buffer", "0", "a size must be at least 1 byte"),
        (["run", "--config", "run.yaml"], "--grace", "5x", Self.notADuration),
        (["serve"], "--grace", "5", Self.needsUnit),
        (["serve"], "--pcap-buffer", "64X", Self.notASize),
        (["serve"], "--pcap-buffer", "½M", Self.notASize),  // a digit, but not an ASCII one
        (["serve"], "--max-body", "99999999999G", "a size must be less than 8589934592G"),
        (["check", "retries", "events.jsonl"], "--deadline", "10", Self.needsUnit),
        (["check", "retries", "events.jsonl"], "--window", "60", Self.needsUnit),
        (["check", "idempotency", "events.jsonl", "--target", "127.0.0.1:1"], "--timeout", "5", Self.needsUnit),
        (["capture", "--interface", "lo", "-w", "/nonexistent/x.pcap"], "--duration", "10", Self.needsUnit),
        // A value starting with "-" is the option's value, refused for what it is (it
        // was "Missing value for '--grace <duration>'").
        (Self.proxy, "--grace", "-1s", "a duration cannot be negative"),
        (["check", "retries", "events.jsonl"], "--window", "-60s", "a duration cannot be negative"),
        (["run", "--config", "run.yaml"], "--timeout", "-5s", "the duration must be more than 0"),
        (Self.proxy, "--pcap-max-size", "-5M", Self.notASize),
        (Self.proxy, "--connect-timeout", "--log", Self.notADuration),
        // A number and a unit too large to hold (it was "a duration is a number and a unit").
        (Self.proxy, "--grace", "3000000h", "a duration must be shorter than 292 years"),
    ]

    @Test(arguments: Self.cases)
    func aWrongValueSaysWhy(arguments: [String], option: String, value: String, reason: String) async throws {
        let result = try await FaultlineBinary.run(arguments + [option, value])
        #expect(result.status == 2, "\(result.stderr)")
        let firstLine = result.stderr.split(separator: "\n").first.map(String.init)
        #expect(firstLine?.hasPrefix("Error: The value '\(value)' is invalid for '\(option) <") == true, "\(result.stderr)")
        #expect(firstLine?.hasSuffix(">': \(reason)") == true, "\(result.stderr)")
    }

    /// Help shows a default as ArgumentParser shows any other option's.
    static let defaults: [([String], String)] = [
        (["proxy"], "--grace <duration> How long open connections may finish after SIGINT, SIGTERM or SIGHUP; a second signal ends it. (default: 5s)"),
        (["proxy"], "--connect-timeout <duration> How long dialling the upstream may take. (default: 5s)"),
        (["proxy"], "either way. (default: 1m)"),
        (["serve"], "--grace <duration> How long open connections may finish on SIGINT, SIGTERM or SIGHUP; a second signal ends it. (default: 5s)"),
        (["check", "retries"], "still counts as its retry. (default: 1m)"),
        (["check", "idempotency"], "--timeout <duration> How long each request waits for its reply. (default: 5s)"),
    ]

    @Test(arguments: Self.defaults)
    func helpStillShowsTheDefault(command: [String], line: String) async throws {
        let result = try await FaultlineBinary.run(command + ["--help"])
        #expect(result.status == 0)
        let words = result.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(words.contains(line), "\(result.stdout)")
    }
}
