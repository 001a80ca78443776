import FaultlineCore
import Testing

/// Every class of profile mistake is reported as `FILE:LINE:COLUMN: message`, and one
/// pass reports all of them.
struct ProfileValidationTests {
    static let header = "faultline: 1\nname: t\ndescription: test profile\n"

    /// (profile text, expected `LINE:COLUMN`, words the message must contain).
    static let cases: [(String, String, String)] = [
        // Unknown keys, at the key, with a suggestion.
        (header + "rulez: []\n", "4:1", "unknown key 'rulez' in a profile (did you mean 'rules'?)"),
        (header + "rules:\n  - name: a\n    fault: {kind: delay, latency: 1s}\n    probabilty: 0.5\n", "7:5", "unknown key 'probabilty'"),
        (header + "rules:\n  - name: a\n    fault: {kind: delay, latency: 1s, jiter: 2ms}\n", "6:39", "unknown key 'jiter' in a delay fault"),
        // Wrong types.
        (header + "rules: {name: a}\n", "4:8", "rules must be a list"),
        (header + "rules:\n  - name: a\n    probability: often\n    fault: {kind: blackhole}\n", "6:18", "probability must be a number"),
        (header + "rules:\n  - name: a\n    fault: blackhole\n", "6:12", "fault must be a mapping"),
        (header + "seed: -4\n", "4:7", "seed must be a whole number"),
        // Probabilities outside [0, 1].
        (header + "rules:\n  - name: a\n    probability: 1.5\n    fault: {kind: blackhole}\n", "6:18", "probability must be between 0 and 1, got 1.5"),
        (header + "rules:\n  - name: a\n    probability: -0.1\n    fault: {kind: blackhole}\n", "6:18", "between 0 and 1"),
        // Bad durations.
        (header + "rules:\n  - name: a\n    fault: {kind: delay, latency: 150}\n", "6:35", "latency must be a duration"),
        (header + "rules:\n  - name: a\n    fault: {kind: delay, latency: soon}\n", "6:35", "150ms, 2s, 1m"),
        (header + "rules:\n  - name: a\n    fault: {kind: delay, latency: 1e30s}\n", "6:35", "latency must be at most 168h (7 days)"),
        (header + "rules:\n  - name: a\n    fault: {kind: bandwidth, bytes_per_second: 99999999999999999999999}\n", "6:48", "bytes_per_second must be a whole number"),
        (header + "rules:\n  - name: a\n    probability: .nan\n    fault: {kind: blackhole}\n", "6:18", "probability must be a number"),
        (header + "rules:\n  - name: a\n    window: {after: 5 s}\n    fault: {kind: blackhole}\n", "6:21", "window.after must be a duration"),
        // Unknown fault kinds and bad choices.
        (header + "rules:\n  - name: a\n    fault: {kind: dealy}\n", "6:19", "unknown fault kind 'dealy' (did you mean 'delay'?)"),
        (header + "rules:\n  - name: a\n    fault: {kind: sever, mode: explode}\n", "6:32", "mode must be one of reset, fin, half-close"),
        (header + "rules:\n  - name: a\n    match: {direction: sideways}\n    fault: {kind: blackhole}\n", "6:24", "direction must be one of upstream, downstream, both"),
        // Missing pieces.
        ("faultline: 1\nname: t\n", "1:1", "needs 'description'"),
        ("name: t\ndescription: d\n", "1:1", "needs 'faultline'"),
        ("faultline: 2\nname: t\ndescription: d\n", "1:12", "unsupported format version 2"),
        (header + "rules:\n  - name: a\n", "5:5", "rule 'a' needs 'fault'"),
        // YAML syntax.
        (header + "rules: [\n", "5:1", "not valid YAML"),
        // A repeated key is said where it is repeated, not where it first was.
        (header + "name: again\n", "4:1", "duplicate key 'name': each key may appear once per mapping (first at line 2)"),
        (header + "rules:\n  - name: a\n    fault: {kind: blackhole}\n    name: b\n", "7:5", "duplicate key 'name': each key may appear once per mapping (first at line 5)"),
        // Rules that can never fire.
        (header + "rules:\n  - name: a\n    probability: 0\n    fault: {kind: blackhole}\n", "5:5", "rule 'a' can never fire: its probability is 0"),
        (header + "rules:\n  - name: a\n    match: {connections: {first: 2, skip: 2}}\n    fault: {kind: blackhole}\n", "5:5", "can never fire: match.connections selects no connection"),
        (header + "rules:\n  - name: a\n    window: {after: 1s, for: 0s}\n    fault: {kind: blackhole}\n", "5:5", "can never fire: its window lasts 0s"),
        (header + "schedule:\n  phases:\n    - {duration: 1s, rules: []}\nrules:\n  - name: a\n    fault: {kind: blackhole}\n", "8:5", "can never fire: the schedule's phases never turn it on"),
        (header + "framing: raw\nrules:\n  - name: a\n    match: {method: POST}\n    fault: {kind: blackhole}\n", "6:5", "framing: raw"),
        // Other checks.
        (header + "rules:\n  - name: a\n    fault: {kind: blackhole}\n  - name: a\n    fault: {kind: blackhole}\n", "7:5", "a rule named 'a' is already defined at t.yaml:5:5"),
        (header + "schedule:\n  phases:\n    - {duration: 1s, rules: [b]}\nrules:\n  - name: a\n    fault: {kind: blackhole}\n", "6:30", "names rule 'b', which no rule has"),
        (header + "schedule:\n  repeat: true\n  phases:\n    - {rules: []}\n", "7:7", "needs a duration: a repeating schedule"),
        (header + "rules:\n  - name: a\n    fault: {kind: sever, after_bytes: {min: 9, max: 2}}\n", "6:39", "min (9) must not be above max (2)"),
        (header + "rules:\n  - name: a\n    per: chunk\n    fault: {kind: refuse}\n", "6:10", "a refuse fault is decided per connection, not per chunk"),
        (header + "rules:\n  - name: a\n    match: {client: example.com}\n    fault: {kind: blackhole}\n", "6:21", "client must be an IP address or a CIDR block"),
        (header + "rules:\n  - name: a\n    match: {connections: {every: 0}}\n    fault: {kind: blackhole}\n", "6:34", "connections.every must be at least 1"),
    ]

    @Test(arguments: cases)
    func reportsTheMistakeAtItsLineAndColumn(text: String, position: String, message: String) throws {
        let error = try #require(throws: ProfileError.self) {
            try ProfileLoader(library: []).load(text: text, file: "t.yaml")
        }
        let matching = error.issues.filter { $0.message.contains(message) }
        #expect(!matching.isEmpty, "no issue says '\(message)'; got:\n\(error)")
        #expect(matching.contains { $0.description.hasPrefix("t.yaml:\(position): ") }, "wanted t.yaml:\(position); got:\n\(error)")
        #expect(error.exitStatus == 2)
    }

    @Test func reportsEveryProblemInOnePass() throws {
        let text = """
            faultline: 1
            name: many
            description: three mistakes
            rules:
              - name: a
                probability: 2
                fault: {kind: delay, latency: fast}
              - name: b
                colour: red
                fault: {kind: blackhole}
            """
        let error = try #require(throws: ProfileError.self) {
            try ProfileLoader(library: []).load(text: text, file: "many.yaml")
        }
        #expect(error.description.split(separator: "\n").map { String($0.prefix(while: { $0 != " " })) } == [
            "many.yaml:6:18:", "many.yaml:7:35:", "many.yaml:9:5:",
        ])
    }

    /// Checks that come after parsing (a rule name used twice, a rule that can never
    /// fire) still run on the rules that parsed when others did not, and every issue
    /// comes out in file order.
    @Test func reportsLaterChecksAlongsideParsingMistakes() throws {
        let text = """
            faultline: 1
            name: many
            description: mistakes of every stage
            rules:
              - name: a
                fault: {kind: delay, latency: -5ms}
              - name: a
                fault: {kind: blackhole}
              - name: never
                probability: 0
                fault: {kind: blackhole}
              - name: b
                fault: {kind: delay, latency: fast}
            """
        let error = try #require(throws: ProfileError.self) {
            try ProfileLoader(library: []).load(text: text, file: "many.yaml")
        }
        #expect(error.description.split(separator: "\n").map { String($0.prefix(while: { $0 != " " })) } == [
            "many.yaml:6:35:", "many.yaml:7:5:", "many.yaml:9:5:", "many.yaml:13:35:",
        ], "got:\n\(error)")
        #expect(error.issues[1].message.contains("a rule named 'a' is already defined"))
        #expect(error.issues[2].message.contains("rule 'never' can never fire"))
    }

    @Test func acceptsJSON() throws {
        let text = """
            {"faultline": 1, "name": "j", "description": "json works",
             "rules": [{"name": "slow", "probability": 0.5, "fault": {"kind": "delay", "latency": "20ms"}}]}
            """
        let profile = try ProfileLoader(library: []).load(text: text, file: "j.json")
        #expect(profile.rules.map(\.name) == ["slow"])
        #expect(profile.rules[0].probability == 0.5)
        #expect((profile.rules[0].fault as? DelayFault)?.latency == .milliseconds(20))
    }

    @Test func jsonMistakesHaveLinesToo() throws {
        let text = "{\"faultline\": 1, \"name\": \"j\", \"description\": \"d\",\n \"rules\": [{\"name\": \"x\", \"fault\": {\"kind\": \"nope\"}}]}"
        let error = try #require(throws: ProfileError.self) {
            try ProfileLoader(library: []).load(text: text, file: "j.json")
        }
        #expect(error.description.hasPrefix("j.json:2:44: unknown fault kind 'nope'"), "\(error)")
    }

    @Test func readsEveryField() throws {
        let text = """
            faultline: 1
            name: full
            description: every field
            seed: 42
            framing: http
            schedule:
              repeat: true
              phases:
                - {name: calm, duration: 10s, rules: []}
                - {name: storm, duration: 5s, rules: [cut, slow]}
            rules:
              - name: cut
                match:
                  direction: upstream
                  connections: {first: 10, every: 2, skip: 1}
                  client: [127.0.0.0/8, "::1"]
                  method: [post, PUT]
                  path: /orders/*
                  header: {name: Idempotency-Key}
                  message: {first: 1}
                probability: 0.25
                per: connection
                window: {from: proxy, after: 1m, for: 30s}
                fault: {kind: sever, mode: half-close, after_bytes: {min: 10, max: 20}}
              - name: slow
                per: chunk
                fault: {kind: delay, latency: 150ms, jitter: 1.5s, distribution: normal}
            """
        let profile = try ProfileLoader(library: []).load(text: text, file: "full.yaml")
        #expect(profile.seed == 42)
        #expect(profile.framing == .http)
        #expect(profile.schedule?.repeats == true)
        #expect(profile.schedule?.phases.map(\.name) == ["calm", "storm"])
        let cut = profile.rules[0]
        #expect(cut.match.direction == .upstream)
        #expect(cut.match.connections == ConnectionOrdinals(first: 10, every: 2, skip: 1))
        #expect(cut.match.client?.contains("127.0.0.9:5000") == true)
        #expect(cut.match.client?.contains("[::1]:80") == true)
        #expect(cut.match.client?.contains("10.0.0.1:1") == false)
        #expect(cut.match.message?.methods == ["POST", "PUT"])
        #expect(cut.match.message?.path?.matches("/orders/7") == true)
        #expect(cut.match.message?.path?.matches("/orders/7/items") == false)
        #expect(cut.window == TimeWindow(from: .proxy, after: .seconds(60), length: .seconds(30)))
        let sever = try #require(cut.fault as? SeverFault)
        #expect(sever.mode == .halfClose)
        #expect(sever.afterBytes == 10...20)
        #expect(cut.location.description == "full.yaml:12:5")
        let slow = try #require(profile.rules[1].fault as? DelayFault)
        #expect(slow.jitter == .milliseconds(1500))
        #expect(slow.distribution == .normal)
        #expect(profile.rules[1].per == .chunk)
    }
}
