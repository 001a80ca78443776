import FaultlineCore
import Foundation
import Testing

/// The compact spelling the engine's rule types decode for integrators
/// (`{"loss": {...}}`); profiles are read by `ProfileParser` (`DatagramProfileTests`).
struct DatagramFaultDecodingTests {
    static func rule(_ json: String) throws -> DatagramFaultRule {
        try JSONDecoder().decode(DatagramFaultRule.self, from: Data(json.utf8))
    }

    static let goodRules: [(String, DatagramFaultRule)] = [
        (
            #"{"name": "lose", "direction": "upstream", "probability": 0.2, "fault": {"loss": {}}}"#,
            DatagramFaultRule(name: "lose", direction: .upstream, probability: 0.2, fault: .loss(.independent))
        ),
        (
            #"{"name": "ge", "fault": {"loss": {"model": "gilbert_elliott", "p": 0.02, "r": 0.3, "loss_bad": 0.9}}}"#,
            DatagramFaultRule(name: "ge", fault: .loss(.gilbertElliott(p: 0.02, r: 0.3, lossGood: 0, lossBad: 0.9)))
        ),
        (
            #"{"name": "dup", "fault": {"duplicate": {"copies": 2, "gap": "5ms"}}}"#,
            DatagramFaultRule(name: "dup", fault: .duplicate(DatagramDuplicate(copies: 2, gap: .milliseconds(5))))
        ),
        (
            #"{"name": "hold", "match": {"datagram": 3}, "fault": {"reorder": {"after": 2}}}"#,
            DatagramFaultRule(name: "hold", match: DatagramMatch(datagrams: 3...3), fault: .reorder(DatagramReorder(after: 2)))
        ),
        (
            #"{"name": "late", "match": {"session": [0, 4]}, "fault": {"delay": {"latency": "20ms", "jitter": "5ms", "distribution": "normal"}}}"#,
            DatagramFaultRule(
                name: "late",
                match: DatagramMatch(sessions: 0...4),
                fault: .delay(DatagramDelay(latency: .milliseconds(20), jitter: .milliseconds(5), distribution: .normal))
            )
        ),
        (
            #"{"name": "flip", "direction": "downstream", "fault": {"corrupt": {"rate": 0.001}}}"#,
            DatagramFaultRule(name: "flip", direction: .downstream, fault: .corrupt(DatagramCorrupt(rate: 0.001)))
        ),
        (
            #"{"name": "slow", "fault": {"rate": {"bytes_per_second": 125000, "excess": "queue", "queue_limit": 32}}}"#,
            DatagramFaultRule(name: "slow", fault: .rate(DatagramRate(bytesPerSecond: 125_000, excess: .queue, queueLimit: 32)))
        ),
    ]

    @Test(arguments: goodRules)
    func decodesTheProfileSpelling(json: String, expected: DatagramFaultRule) throws {
        #expect(try Self.rule(json) == expected)
    }

    static let badRules: [(String, String)] = [
        (#"{"name": "x", "probability": 1.5, "fault": {"loss": {}}}"#, "probability is a probability from 0 to 1"),
        (#"{"name": "x", "fault": {"delay": {"latency": "soon"}}}"#, "'soon' is not a duration"),
        (#"{"name": "x", "fault": {"explode": {}}}"#, "'explode' is not a UDP fault"),
        (#"{"name": "x", "fault": {"loss": {}, "delay": {"latency": "1ms"}}}"#, "exactly one kind"),
        (#"{"name": "x", "fault": {"loss": {"model": "gilbert_elliott", "p": 0.1}}}"#, "needs p"),
        (#"{"name": "x", "fault": {"loss": {"p": 0.1}}}"#, "belongs to model: gilbert_elliott"),
        (#"{"name": "x", "fault": {"duplicate": {"copies": 0}}}"#, "copies"),
        (#"{"name": "x", "fault": {"reorder": {}}}"#, "give after"),
        (#"{"name": "x", "fault": {"rate": {"excess": "queue"}}}"#, "exactly one of packets_per_second"),
        (#"{"name": "x", "match": {"datagram": [5, 2]}, "fault": {"loss": {}}}"#, "inclusive range"),
    ]

    @Test(arguments: badRules)
    func rejectsBadRulesWithAMessageThatSaysWhatIsValid(json: String, message: String) {
        do {
            _ = try Self.rule(json)
            Issue.record("accepted \(json)")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.contains(message), "\(context.debugDescription)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
