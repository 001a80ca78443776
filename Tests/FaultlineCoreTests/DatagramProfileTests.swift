import FaultlineCore
import Testing

/// Profiles that say `transport: udp`: each datagram kind reads into the rule the UDP
/// engine runs, mistakes are reported at `FILE:LINE:COLUMN`, and TCP and UDP kinds
/// stay in their own profiles.
struct DatagramProfileTests {
    static let header = "faultline: 1\nname: t\ndescription: test profile\ntransport: udp\n"

    static func load(_ text: String) throws -> Profile {
        try ProfileLoader(library: []).load(text: text, file: "t.yaml")
    }

    /// (the rule as a profile writes it, the rule the UDP engine gets).
    static let kinds: [(String, Rule)] = [
        (
            "{name: a, probability: 0.2, match: {direction: upstream}, fault: {kind: loss}}",
            Rule(name: "a", match: RuleMatch(direction: .upstream), probability: 0.2, fault: DatagramLossFault())
        ),
        (
            "{name: a, fault: {kind: loss, model: gilbert_elliott, p: 0.02, r: 0.3, loss_bad: 0.9}}",
            Rule(name: "a", fault: DatagramLossFault.gilbertElliott(p: 0.02, r: 0.3, lossGood: 0, lossBad: 0.9))
        ),
        (
            "{name: a, fault: {kind: loss, model: independent}}",
            Rule(name: "a", fault: DatagramLossFault(.independent))
        ),
        (
            "{name: a, probability: 0.05, fault: {kind: duplicate, copies: 2, gap: 5ms}}",
            Rule(name: "a", probability: 0.05, fault: DatagramDuplicateFault(copies: 2, gap: .milliseconds(5)))
        ),
        (
            "{name: a, fault: {kind: duplicate}}",
            Rule(name: "a", fault: DatagramDuplicateFault(copies: 1, gap: .zero))
        ),
        (
            "{name: a, match: {message: {skip: 3, first: 4}}, fault: {kind: reorder, after: 2}}",
            Rule(
                name: "a",
                match: RuleMatch(message: MessageMatch(ordinals: ConnectionOrdinals(first: 4, skip: 3))),
                fault: DatagramReorderFault(after: 2)
            )
        ),
        (
            "{name: a, per: message, fault: {kind: reorder, after: 3, delay: 50ms}}",
            Rule(name: "a", fault: DatagramReorderFault(after: 3, delay: .milliseconds(50)))
        ),
        (
            "{name: a, match: {connections: {every: 2}}, fault: {kind: delay, latency: 20ms, jitter: 5ms, distribution: normal}}",
            Rule(
                name: "a",
                match: RuleMatch(connections: ConnectionOrdinals(every: 2)),
                fault: DelayFault(latency: .milliseconds(20), jitter: .milliseconds(5), distribution: .normal)
            )
        ),
        (
            "{name: a, match: {direction: downstream}, fault: {kind: corrupt, rate: 0.001}}",
            Rule(name: "a", match: RuleMatch(direction: .downstream), fault: DatagramCorruptFault(rate: 0.001))
        ),
        (
            "{name: a, fault: {kind: corrupt}}",
            Rule(name: "a", fault: DatagramCorruptFault())
        ),
        (
            "{name: a, fault: {kind: rate, packets_per_second: 100}}",
            Rule(name: "a", fault: DatagramRateFault(DatagramRate(packetsPerSecond: 100)))
        ),
        (
            "{name: a, fault: {kind: rate, bytes_per_second: 125000, burst: 3000, excess: queue, queue_limit: 32}}",
            Rule(name: "a", fault: DatagramRateFault(DatagramRate(bytesPerSecond: 125_000, burst: 3000, excess: .queue, queueLimit: 32)))
        ),
    ]

    /// What the UDP engine reads of a rule, in words.
    static func engineRule(_ rule: Rule) -> String {
        let params = rule.fault.params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        return "\(rule.name) \(rule.match.direction) \(String(describing: rule.match.connections)) \(String(describing: rule.match.message?.ordinals)) p=\(rule.probability) per=\(rule.per) \(rule.kind) \(params)"
    }

    @Test(arguments: kinds)
    func eachKindReadsIntoTheEngineRule(rule: String, expected: Rule) throws {
        let profile = try Self.load(Self.header + "rules:\n  - \(rule)\n")
        #expect(profile.transport == .udp)
        #expect(profile.rules.allSatisfy { $0.per == .message })
        // Every kind the UDP engine gets is one it accepts, decided per datagram.
        #expect(try profile.forDatagrams().rules.map(Self.engineRule) == [Self.engineRule(Rule(name: expected.name, match: expected.match, probability: expected.probability, per: .message, fault: expected.fault))])
        #expect(try profile.forDatagrams().rules.allSatisfy { $0.fault is any DatagramCarried })
    }

    /// Windows, the client match and the schedule reach the UDP engine's rules and plan.
    @Test func windowsClientMatchAndScheduleReadIntoTheEnginePlan() throws {
        let profile = try Self.load(
            Self.header + """
                schedule:
                  phases:
                    - {name: calm, duration: 10s, rules: []}
                    - {name: storm, duration: 5s, rules: [lossy]}
                  repeat: true
                rules:
                  - {name: lossy, window: {from: proxy, after: 2s, for: 30s}, match: {client: 10.0.0.0/8}, fault: {kind: loss}}

                """
        )
        let rules = try profile.forDatagrams().rules
        #expect(rules.first?.window == TimeWindow(from: .proxy, after: .seconds(2), length: .seconds(30)))
        #expect(rules.first?.match.selects(connection: 0, client: "10.1.2.3:5000") == true)
        #expect(rules.first?.match.selects(connection: 0, client: "127.0.0.1:5000") == false)
        let plan = FaultPlan(profile: try profile.forDatagrams(), seed: 1)
        #expect(plan.profile.schedule?.phases.map(\.name) == ["calm", "storm"])
    }

    /// (profile text, expected `LINE:COLUMN`, words the message must contain).
    static let mistakes: [(String, String, String)] = [
        // Bad values, at the value.
        (header + "rules:\n  - {name: a, fault: {kind: loss, model: markov}}\n", "6:42", "loss model must be one of independent, gilbert_elliott"),
        (header + "rules:\n  - {name: a, fault: {kind: loss, model: gilbert_elliott, p: 1.5, r: 0.3}}\n", "6:62", "p must be between 0 and 1, got 1.5"),
        (header + "rules:\n  - {name: a, fault: {kind: loss, model: gilbert_elliott, r: 0.3}}\n", "6:22", "gilbert_elliott loss (p: chance to move from good to bad, r: from bad to good) needs 'p'"),
        (header + "rules:\n  - {name: a, fault: {kind: loss, p: 0.1}}\n", "6:35", "p belongs to 'model: gilbert_elliott'"),
        (header + "rules:\n  - {name: a, fault: {kind: duplicate, copies: 17}}\n", "6:48", "copies (extra copies after the original) must be between 1 and 16, got 17"),
        (header + "rules:\n  - {name: a, fault: {kind: duplicate, gap: 5}}\n", "6:45", "gap must be a duration"),
        (header + "rules:\n  - {name: a, fault: {kind: reorder}}\n", "6:22", "a reorder fault needs 'after'"),
        (header + "rules:\n  - {name: a, fault: {kind: reorder, after: 0}}\n", "6:45", "after (a count of later datagrams) must be between 1 and 1024, got 0"),
        (header + "rules:\n  - {name: a, fault: {kind: reorder, delay: 0s}}\n", "6:45", "delay must be above 0s"),
        (header + "rules:\n  - {name: a, fault: {kind: delay, latency: 20ms, jitter: lots}}\n", "6:59", "jitter must be a duration"),
        (header + "rules:\n  - {name: a, fault: {kind: corrupt, rate: 0}}\n", "6:44", "rate must be above 0"),
        (header + "rules:\n  - {name: a, fault: {kind: corrupt, rate: 2}}\n", "6:44", "rate (each bit's chance to flip) must be between 0 and 1, got 2"),
        (header + "rules:\n  - {name: a, fault: {kind: rate, excess: drop}}\n", "6:22", "exactly one of packets_per_second or bytes_per_second"),
        (header + "rules:\n  - {name: a, fault: {kind: rate, packets_per_second: 0}}\n", "6:55", "packets_per_second must be above 0"),
        (header + "rules:\n  - {name: a, fault: {kind: rate, bytes_per_second: 9, queue_limit: 5}}\n", "6:56", "queue_limit applies only with 'excess: queue'"),
        (header + "rules:\n  - {name: a, fault: {kind: rate, bytes_per_second: 9, excess: wait}}\n", "6:64", "excess must be one of drop, queue"),
        (header + "rules:\n  - {name: a, fault: {kind: loss, rate: 0.1}}\n", "6:35", "unknown key 'rate' in a loss fault"),
        (header + "rules:\n  - {name: a, fault: {kind: los}}\n", "6:29", "unknown fault kind 'los' (did you mean 'loss'?)"),
        ("faultline: 1\nname: t\ndescription: d\ntransport: quic\n", "4:12", "transport must be one of tcp, udp"),
        // A TCP kind in a UDP profile, and the other way round, at the kind.
        (header + "rules:\n  - {name: a, fault: {kind: sever}}\n", "6:29", "sever is a TCP fault and cannot act on datagrams; this profile says 'transport: udp'"),
        (header + "rules:\n  - {name: a, fault: {kind: bandwidth, bytes_per_second: 9}}\n", "6:29", "(a UDP rate limit is kind: rate)"),
        (header + "rules:\n  - {name: a, fault: {kind: drop}}\n", "6:29", "drop is a TCP fault and cannot act on datagrams (a lost datagram is kind: loss)"),
        ("faultline: 1\nname: t\ndescription: d\nrules:\n  - {name: a, fault: {kind: loss}}\n", "5:29", "loss is a UDP datagram fault; a profile that uses it says 'transport: udp'"),
        ("faultline: 1\nname: t\ndescription: d\nrules:\n  - {name: a, fault: {kind: rate, packets_per_second: 1}}\n", "5:29", "(a TCP rate limit is kind: bandwidth)"),
        // What the UDP engine cannot honour, where it is asked for.
        (header + "rules:\n  - {name: a, per: connection, probability: 0.5, fault: {kind: loss}}\n", "6:20", "with 'transport: udp' every rule is decided per datagram"),
        (header + "rules:\n  - {name: a, per: chunk, fault: {kind: delay, latency: 1ms}}\n", "6:20", "decided per datagram"),
        (header + "rules:\n  - {name: a, match: {method: GET}, fault: {kind: loss}}\n", "6:23", "datagrams have no method, path, header or command"),
        (header + "rules:\n  - {name: a, match: {attempt: {first: 1}}, fault: {kind: loss}}\n", "6:23", "decided before a datagram's attempt is known"),
        (header + "framing: line\nrules: []\n", "5:1", "a 'transport: udp' profile has no framing"),
        // Rules that can never fire, as on TCP.
        (header + "rules:\n  - {name: a, probability: 0, fault: {kind: loss}}\n", "6:5", "rule 'a' can never fire: its probability is 0"),
    ]

    @Test(arguments: mistakes)
    func reportsTheMistakeAtItsLineAndColumn(text: String, position: String, message: String) throws {
        let error = try #require(throws: ProfileError.self) { try Self.load(text) }
        let matching = error.issues.filter { $0.message.contains(message) }
        #expect(!matching.isEmpty, "no issue says '\(message)'; got:\n\(error)")
        #expect(matching.contains { $0.description.hasPrefix("t.yaml:\(position): ") }, "wanted t.yaml:\(position); got:\n\(error)")
        #expect(error.exitStatus == 2)
    }

    @Test func aProfileExtendsOnlyItsOwnTransport() throws {
        let dir = try ProfileLoaderTests.folder([
            "udp-child.yaml": "faultline: 1\nname: c\ndescription: d\ntransport: udp\nextends: slow-reply\nrules: []\n",
            "tcp-child.yaml": "faultline: 1\nname: c\ndescription: d\nextends: [lossy-udp]\nrules: []\n",
            "udp-grandchild.yaml": "faultline: 1\nname: g\ndescription: d\ntransport: udp\nextends: lossy-udp\nrules:\n  - {name: random-loss, probability: 0.5, fault: {kind: loss}}\n",
        ])
        let fromTCP = try #require(throws: ProfileError.self) { try ProfileLoader().load("\(dir)/udp-child.yaml") }
        #expect(fromTCP.description.hasPrefix("\(dir)/udp-child.yaml:5:10: 'slow-reply' is a TCP profile and this one is for UDP"), "\(fromTCP)")
        let fromUDP = try #require(throws: ProfileError.self) { try ProfileLoader().load("\(dir)/tcp-child.yaml") }
        #expect(fromUDP.description.hasPrefix("\(dir)/tcp-child.yaml:4:11: 'lossy-udp' is a UDP profile and this one is for TCP"), "\(fromUDP)")
        let merged = try ProfileLoader().load("\(dir)/udp-grandchild.yaml")
        #expect(merged.transport == .udp)
        #expect(try merged.forDatagrams().rules.map(\.name) == ["bursty-loss", "random-loss"])
        #expect(try merged.forDatagrams().rules[1].probability == 0.5)
    }

    @Test func eachProxyRefusesTheOtherTransportsProfiles() throws {
        let udp = try ProfileLoader().load("lossy-udp")
        let tcp = try ProfileLoader().load("slow-reply")
        let refusedOnTCP = try #require(throws: ProfileError.self) { try udp.require(.tcp) }
        #expect(refusedOnTCP.description == "library:lossy-udp: profile 'lossy-udp' says 'transport: udp'; run it with 'faultline proxy --udp', not 'faultline proxy'")
        let refusedOnUDP = try #require(throws: ProfileError.self) { try tcp.forDatagrams() }
        #expect(refusedOnUDP.description.contains("profile 'slow-reply' is for TCP (it does not say 'transport: udp'); run it with 'faultline proxy', not 'faultline proxy --udp'"))
        try udp.require(.udp)
        try tcp.require(.tcp)
    }

    @Test func aRuleBuiltInCodeWithATCPKindIsRefused() throws {
        let profile = Profile(name: "p", description: "d", transport: .udp, rules: [Rule(name: "cut", fault: SeverFault())])
        let error = try #require(throws: ProfileError.self) { try profile.forDatagrams() }
        #expect(error.description.contains("rule 'cut': sever is a TCP fault"))
    }

    @Test func explainSpeaksOfDatagramsAndSessions() throws {
        let profile = try Self.load(
            Self.header + """
                rules:
                  - {name: late, match: {direction: downstream, connections: {every: 2}}, fault: {kind: delay, latency: 20ms, jitter: 5ms}}
                  - {name: first-lost, match: {message: {first: 1}}, probability: 0.5, fault: {kind: loss}}
                """
        )
        let text = ProfileExplainer.explain(profile, width: .max)
        #expect(text.contains("for UDP: run it with 'faultline proxy --udp'"))
        #expect(text.contains("'late' (delay): on every datagram, sessions every 2nd session, on what the server sends back, it holds each datagram for 20ms ± 5ms"), "\(text)")
        #expect(text.contains("so a later datagram can overtake an earlier one"))
        #expect(text.contains("'first-lost' (loss): on 50% of datagrams, datagrams among the first 1 of each session and direction"), "\(text)")
        #expect(text.contains("Loss: every request may go unanswered"))
        #expect(!text.contains("keeping order"))
    }
}
