import FaultlineCore
import Testing

struct HostPortTests {
    static let valid: [(String, String, Int)] = [
        ("127.0.0.1:7000", "127.0.0.1", 7000),
        ("localhost:0", "localhost", 0),
        ("[::1]:8080", "::1", 8080),
        ("example.test:65535", "example.test", 65535),
    ]

    @Test(arguments: valid)
    func parses(text: String, host: String, port: Int) throws {
        let parsed = try HostPort(parsing: text, what: "--listen")
        #expect(parsed.host == host && parsed.port == port)
        #expect(parsed.description == text)
    }

    @Test(arguments: ["127.0.0.1", ":80", "host:", "host:-1", "host:65536", "::1:80", "[::1]80", "a b:1"])
    func rejects(text: String) {
        #expect(throws: InvalidInputError.self) { try HostPort(parsing: text, what: "--listen") }
    }
}

struct DurationTextTests {
    static let cases: [(String, Int64?)] = [
        ("150ms", 150_000_000), ("2s", 2_000_000_000), ("1m", 60_000_000_000), ("1.5s", 1_500_000_000),
        ("250us", 250_000), ("1h", 3_600_000_000_000), ("0s", 0),
        ("5", nil), ("ms", nil), ("-1s", nil), ("1 parsec", nil), ("", nil),
    ]

    @Test(arguments: cases)
    func parses(text: String, nanoseconds: Int64?) {
        #expect(DurationText.parse(text)?.nanoseconds == nanoseconds)
    }

    @Test(arguments: ["150ms", "2s", "1m", "1.5s", "250us", "70s", "100s", "90s"])
    func formatsBackToTheSameValue(text: String) throws {
        let duration = try #require(DurationText.parse(text))
        #expect(DurationText.parse(DurationText.format(duration)) == duration)
    }

    /// `faultline run --timeout 70s` came back in its replay line as `--timeout 1.167m`
    /// (70.02 s), and 100s as `1.667m`. The exact form is the shortest text that reads
    /// back to the very same value, a whole number where one is as short.
    static let exactForms: [(String, String)] = [
        ("70s", "70s"), ("100s", "100s"), ("90s", "90s"), ("250ms", "250ms"), ("0.25s", "250ms"), ("1.5s", "1.5s"),
        ("2m", "2m"), ("120s", "2m"), ("1h", "1h"), ("90m", "90m"), ("1.5h", "90m"), ("0s", "0s"), ("10m", "10m"),
        ("61.5s", "61.5s"), ("1500ms", "1.5s"), ("1234567891ns", "1234567891ns"), ("2.5us", "2.5us"), ("7ns", "7ns"),
    ]

    @Test(arguments: Self.exactForms)
    func theExactFormIsShortAndReadsBackExactly(written: String, exact: String) throws {
        let duration = try #require(DurationText.parse(written))
        #expect(DurationText.exact(duration) == exact)
        #expect(DurationText.parse(DurationText.exact(duration)) == duration)
    }

    /// Whatever the value: every whole second up to two hours, every millisecond up to
    /// five seconds, and values with odd nanoseconds read back exactly.
    @Test func everyExactFormReadsBackExactly() {
        var values: [Int64] = (0...7_200).map { Int64($0) * 1_000_000_000 }
        values += (0...5_000).map { Int64($0) * 1_000_000 }
        values += [1, 999, 1_001, 123_456_789, 1_234_567_891, 59_999_999_999, 3_600_000_000_001, 86_400_000_000_000]
        for ns in values {
            let text = DurationText.exact(.nanoseconds(ns))
            #expect(DurationText.parse(text)?.nanoseconds == ns, "\(ns) ns written \(text)")
        }
    }

    /// `format` (events, messages) is exact where that is as short (70s, not 1.167m), and
    /// rounds a measured value to three decimals rather than spell every nanosecond.
    @Test func formatIsExactWhenThatIsShort() {
        #expect(DurationText.format(.seconds(70)) == "70s")
        #expect(DurationText.format(.seconds(100)) == "100s")
        #expect(DurationText.format(.milliseconds(250)) == "250ms")
        #expect(DurationText.format(.nanoseconds(1_234_567_891)) == "1.235s")
    }
}

struct DecisionRandomTests {
    @Test func sameKeySameStreamDifferentKeyDifferentStream() {
        let key = DecisionKey(seed: 42, connection: 3, unit: 7, rule: 1)
        var a = DecisionRandom(key)
        var b = DecisionRandom(key)
        var c = DecisionRandom(DecisionKey(seed: 42, connection: 3, unit: 8, rule: 1))
        let first = (0..<4).map { _ in a.next() }
        #expect(first == (0..<4).map { _ in b.next() })
        #expect(first != (0..<4).map { _ in c.next() })
    }

    @Test func chanceMatchesItsProbability() {
        var hits = 0
        for unit in 0..<10_000 as Range<UInt64> {
            var random = DecisionRandom(DecisionKey(seed: 1, connection: 0, unit: unit, rule: 0))
            if random.chance(0.2) { hits += 1 }
        }
        #expect((1800...2200).contains(hits))
    }
}
