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

    @Test(arguments: ["150ms", "2s", "1m", "1.5s", "250us"])
    func formatsBackToTheSameValue(text: String) throws {
        let duration = try #require(DurationText.parse(text))
        #expect(DurationText.parse(DurationText.format(duration)) == duration)
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
