import FaultlineCore
import Testing

/// Message fault kinds, `match.attempt` and `sever at:` as profiles write them, and the
/// decisions they lead to.
struct MessageFaultProfileTests {
    static let header = "faultline: 1\nname: t\ndescription: test profile\n"

    static func load(_ text: String) throws -> Profile {
        try ProfileLoader(library: []).load(text: text, file: "t.yaml")
    }

    static func plan(_ rules: String, framing: String = "http", seed: UInt64 = 1) throws -> FaultPlan {
        FaultPlan(profile: try Self.load(Self.header + "framing: \(framing)\nrules:\n" + rules), seed: seed)
    }

    @Test func readsEveryMessageKind() throws {
        let profile = try Self.load(
            Self.header + """
                rules:
                  - name: lose
                    match: {direction: downstream, attempt: {first: 2}}
                    fault: {kind: drop}
                  - name: twice
                    per: message
                    probability: 0.5
                    fault: {kind: duplicate, copies: 2, gap: 5ms}
                  - name: late
                    fault: {kind: reorder, after: 3, delay: 250ms}
                  - name: busy
                    match: {method: POST}
                    fault: {kind: respond, status: 503, headers: {Retry-After: "2", X-Why: chaos}, body: "try later"}
                  - name: crash
                    fault: {kind: sever, mode: reset, at: first_reply_byte}
                """
        )
        let rules = profile.rules
        #expect(rules[0].fault is DropFault)
        #expect(rules[0].match.message?.attempts == ConnectionOrdinals(first: 2))
        let twice = try #require(rules[1].fault as? MessageDuplicateFault)
        #expect(twice.copies == 2 && twice.gap == .milliseconds(5) && rules[1].per == .message)
        let late = try #require(rules[2].fault as? MessageReorderFault)
        #expect(late.after == 3 && late.delay == .milliseconds(250))
        let busy = try #require(rules[3].fault as? RespondFault)
        #expect(busy.reply.status == 503 && busy.reply.body == "try later")
        #expect(busy.reply.headers.map(\.name) == ["Retry-After", "X-Why"])
        #expect((rules[4].fault as? SeverFault)?.at == .firstReplyByte)
        #expect(rules.allSatisfy { $0.actsOnMessages })
        #expect(FaultPlan(profile: profile, seed: 0).hasMessageRules)
    }

    /// (profile text, expected `LINE:COLUMN`, words the message must contain).
    static let mistakes: [(String, String, String)] = [
        (header + "rules:\n  - name: a\n    fault: {kind: respond}\n", "6:12", "needs 'status' (HTTP), 'error' (RESP) or 'body'"),
        (header + "rules:\n  - name: a\n    fault: {kind: respond, status: 99}\n", "6:36", "status (an HTTP final status) must be"),
        (header + "rules:\n  - name: a\n    fault: {kind: respond, status: 503, headers: {Content-Length: \"3\"}}\n", "6:51", "Content-Length is written by faultline"),
        (header + "rules:\n  - name: a\n    fault: {kind: respond, error: \"ERR a\\nb\"}\n", "6:35", "error must be one line"),
        (header + "rules:\n  - name: a\n    fault: {kind: respond, error: ERR, headers: {A: b}}\n", "6:40", "headers go with 'status'"),
        (header + "rules:\n  - name: a\n    fault: {kind: duplicate, copies: 0}\n", "6:38", "copies (extra deliveries after the original) must be"),
        (header + "rules:\n  - name: a\n    fault: {kind: reorder, after: 100}\n", "6:35", "after (a count of later requests) must be"),
        (header + "rules:\n  - name: a\n    fault: {kind: sever, at: halfway}\n", "6:30", "at (a point in the matched message) must be one of before, mid_message, after, first_reply_byte"),
        (header + "rules:\n  - name: a\n    fault: {kind: sever, at: after, after_bytes: 3}\n", "6:26", "sever takes one of after_bytes, after or at"),
        (header + "rules:\n  - name: a\n    match: {direction: downstream}\n    fault: {kind: duplicate}\n", "5:5", "a duplicate fault acts on requests only"),
        (header + "rules:\n  - name: a\n    match: {direction: downstream}\n    fault: {kind: sever, at: first_reply_byte}\n", "5:5", "a sever fault at first_reply_byte acts on requests only"),
        (header + "rules:\n  - name: a\n    match: {method: GET}\n    fault: {kind: sever, after: 2s}\n", "5:5", "'after' times a cut from the connection's open"),
        (header + "rules:\n  - name: a\n    match: {attempt: {first: 1, skip: 1}}\n    fault: {kind: drop}\n", "5:5", "match.attempt selects no attempt"),
        (header + "framing: resp\nrules:\n  - name: a\n    fault: {kind: respond, status: 503}\n", "6:5", "the profile says 'framing: resp', and a RESP reply needs 'error'"),
        (header + "framing: raw\nrules:\n  - name: a\n    fault: {kind: drop}\n", "6:5", "framing: raw"),
        (header + "rules:\n  - name: a\n    per: chunk\n    fault: {kind: drop}\n", "6:10", "a drop fault is decided per connection or message, not per chunk"),
    ]

    @Test(arguments: mistakes)
    func mistakesAreReportedWhereTheyAre(text: String, position: String, message: String) throws {
        let error = try #require(throws: ProfileError.self) { try Self.load(text) }
        let matching = error.issues.filter { $0.message.contains(message) }
        #expect(!matching.isEmpty, "no issue says '\(message)'; got:\n\(error)")
        #expect(matching.contains { $0.description.hasPrefix("t.yaml:\(position): ") }, "wanted t.yaml:\(position); got:\n\(error)")
    }

    @Test func messageRulesNeedAFramingThatCanCarryThem() throws {
        let profile = try Self.load(
            Self.header + "rules:\n  - name: lose\n    fault: {kind: drop}\n  - name: busy\n    fault: {kind: respond, status: 429}\n"
        )
        let unframed = try #require(throws: ProfileError.self) { try profile.checkMessageRules(framing: .raw) }
        #expect(unframed.issues.map(\.location.description) == ["t.yaml:5:5", "t.yaml:7:5"])
        #expect(unframed.issues.allSatisfy { $0.message.contains("run with --framing http, resp, line or length") })
        let resp = try #require(throws: ProfileError.self) { try profile.checkMessageRules(framing: .resp) }
        #expect(resp.issues.map(\.message) == ["rule 'busy': with --framing resp, a RESP reply needs 'error' (sent as '-ERROR TEXT\\r\\n')"])
        try profile.checkMessageRules(framing: .http)
        // Byte-stream rules run unframed.
        try Self.load(Self.header + "rules:\n  - name: cut\n    fault: {kind: sever, after_bytes: 10}\n").checkMessageRules(framing: .raw)
    }

    // MARK: Decisions

    @Test func attemptMatchesSelectAttemptsOfALogicalRequest() throws {
        let plan = try Self.plan("  - name: first-two\n    match: {attempt: {first: 2}}\n    fault: {kind: drop}\n")
        let faults = plan.connection(0, client: nil)
        let fired = (0..<4).map { attempt in
            faults.decideMessage(
                direction: .upstream, facts: MessageFacts(ordinal: 0, attempt: UInt64(attempt)), sinceProxyStart: .zero, sinceOpen: .zero
            ).count
        }
        #expect(fired == [1, 1, 0, 0])
        // A request whose attempt is unknown (no key, no fingerprint) is never selected.
        #expect(faults.decideMessage(direction: .upstream, facts: MessageFacts(ordinal: 0), sinceProxyStart: .zero, sinceOpen: .zero).isEmpty)
    }

    @Test func requestOnlyKindsAreNeverDecidedForReplies() throws {
        let plan = try Self.plan(
            """
              - {name: twice, fault: {kind: duplicate}}
              - {name: busy, fault: {kind: respond, status: 503}}
              - {name: crash, fault: {kind: sever, at: first_reply_byte}}
              - {name: lose, fault: {kind: drop}}
            """
        )
        let faults = plan.connection(0, client: nil)
        let facts = MessageFacts(ordinal: 0)
        #expect(faults.decideMessage(direction: .upstream, facts: facts, sinceProxyStart: .zero, sinceOpen: .zero).map(\.rule) == ["twice", "busy", "crash", "lose"])
        #expect(faults.decideMessage(direction: .downstream, facts: facts, sinceProxyStart: .zero, sinceOpen: .zero).map(\.rule) == ["lose"])
    }

    @Test func theSameSeedDecidesTheSameMessages() throws {
        let rules = "  - {name: coin, per: message, probability: 0.3, fault: {kind: drop}}\n"
        func hits(_ seed: UInt64) throws -> [String] {
            let plan = try Self.plan(rules, seed: seed)
            return (0..<5).flatMap { connection in
                let faults = plan.connection(UInt64(connection), client: nil)
                return (0..<40).compactMap { ordinal -> String? in
                    let direction: Event.Direction = ordinal % 2 == 0 ? .upstream : .downstream
                    let fired = faults.decideMessage(direction: direction, facts: MessageFacts(ordinal: UInt64(ordinal / 2)), sinceProxyStart: .zero, sinceOpen: .zero)
                    return fired.isEmpty ? nil : "c\(connection) \(direction) \(ordinal / 2)"
                }
            }
        }
        let first = try hits(8)
        let again = try hits(8)
        let other = try hits(9)
        #expect(first == again)
        #expect(first != other)
        #expect((20...100).contains(first.count), "\(first.count) of 200")
    }

    // MARK: Combining decisions

    static func decision(_ rule: String, _ effect: FaultEffect) -> FaultDecision {
        FaultDecision(rule: rule, kind: "k", effect: effect, params: [:], direction: .upstream, unit: 0)
    }

    @Test func theFirstRuleThatEndsAMessagesWayDecidesItsFateAndOthersAreNotTaken() {
        let delay = Self.decision("slow", .delay(.milliseconds(50)))
        let drop = Self.decision("lose", .message(.drop))
        let busy = Self.decision("busy", .message(.respond(InjectedReply(status: 503))))
        let disposition = MessageDisposition([delay, drop, busy])
        #expect(disposition.fate == .drop)
        #expect(disposition.taken == [drop])
        #expect(disposition.delay == .zero)
    }

    @Test func modifiersCombine() {
        let decisions = [
            Self.decision("a", .delay(.milliseconds(50))),
            Self.decision("b", .delay(.milliseconds(20))),
            Self.decision("c", .message(.duplicate(copies: 1, gap: .zero))),
            Self.decision("d", .message(.reorder(after: 1, maxHold: .seconds(1)))),
            Self.decision("e", .message(.sever(.reset, at: .firstReplyByte))),
            Self.decision("f", .message(.sever(.fin, at: .after))),
        ]
        let disposition = MessageDisposition(decisions)
        #expect(disposition.fate == .forward)
        #expect(disposition.delay == .milliseconds(70))
        #expect(disposition.duplicate?.copies == 1 && disposition.duplicateRule == "c")
        #expect(disposition.reorder?.after == 1)
        #expect(disposition.severOnReply?.rule == "e")
        #expect(disposition.severAfter == nil, "one cut per message: the first wins")
        // The sever at the reply is logged when it happens, not now.
        #expect(disposition.taken.map(\.rule) == ["a", "b", "c", "d"])
    }

    @Test func aStreamSeverOnAMessageRuleCutsBeforeOrInsideIt() {
        #expect(MessageDisposition([Self.decision("x", .sever(.reset, trigger: .now))]).fate == .sever(.reset, .before))
        #expect(MessageDisposition([Self.decision("x", .sever(.fin, trigger: .afterBytes(12)))]).fate == .severAtByte(.fin, 12))
        #expect(MessageDisposition([Self.decision("x", .blackhole)]).fate == .discardFromNow(hang: nil))
    }
}
