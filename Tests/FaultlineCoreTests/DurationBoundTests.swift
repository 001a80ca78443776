import FaultlineCore
import Testing

/// A duration in a profile (and so in a rule added through the API, a run file's inline
/// rules) is at most 7 days, refused with its position beyond that; and the engine's
/// arithmetic on fault times saturates, so what is accepted, or built directly (a
/// Toxiproxy toxic), cannot trap. A trial crashed the proxy (SIGILL) with profiles that
/// `profile validate` accepted: `delay` 2000000h ± 2000000h, `slice` gap 40h over
/// 400 KB, `duplicate` 8 copies 400000h apart.
struct DurationBoundTests {
    static let header = "faultline: 1\nname: t\ndescription: test profile\n"

    static func rule(_ fault: String) -> String {
        header + "rules:\n  - name: a\n    fault: \(fault)\n"
    }

    /// (profile text, `LINE:COLUMN`, message).
    static let refused: [(String, String, String)] = [
        (rule("{kind: delay, latency: 2000000h, jitter: 1s}"), "6:35", "latency must be at most 168h (7 days), got '2000000h'"),
        (rule("{kind: delay, latency: 1s, jitter: 2000000h}"), "6:47", "jitter must be at most 168h (7 days), got '2000000h'"),
        (rule("{kind: delay, latency: 169h}"), "6:35", "latency must be at most 168h (7 days)"),
        (rule("{kind: delay, latency: 604800.001s}"), "6:35", "latency must be at most 168h (7 days)"),
        (rule("{kind: delay, latency: 1e30s}"), "6:35", "latency must be at most 168h (7 days)"),
        (rule("{kind: slice, size: 1, gap: 40000h}"), "6:40", "gap must be at most 168h (7 days)"),
        (rule("{kind: hang, close_after: 8000h}"), "6:38", "close_after must be at most 168h (7 days)"),
        (rule("{kind: slow_close, delay: 8000h}"), "6:38", "delay must be at most 168h (7 days)"),
        (rule("{kind: sever, after: 8000h}"), "6:33", "after must be at most 168h (7 days)"),
        (header + "framing: line\nrules:\n  - name: a\n    fault: {kind: duplicate, copies: 8, gap: 400000h}\n", "7:46", "gap must be at most 168h (7 days), got '400000h'"),
        (header + "rules:\n  - name: a\n    window: {after: 200h}\n    fault: {kind: blackhole}\n", "6:21", "window.after must be at most 168h (7 days)"),
        (header + "transport: udp\nrules:\n  - name: a\n    fault: {kind: delay, latency: 8000h}\n", "7:35", "latency must be at most 168h (7 days)"),
    ]

    @Test(arguments: Self.refused)
    func aDurationAboveSevenDaysIsRefusedWhereItIsWritten(text: String, position: String, message: String) throws {
        let error = try #require(throws: ProfileError.self) {
            try ProfileLoader(library: []).load(text: text, file: "t.yaml")
        }
        #expect(error.issues.contains { $0.description.hasPrefix("t.yaml:\(position): ") && $0.message.contains(message) }, "\(error)")
        #expect(error.exitStatus == 2)
    }

    @Test func sevenDaysIsAccepted() throws {
        let profile = try ProfileLoader(library: []).load(text: Self.rule("{kind: delay, latency: 168h, jitter: 604800s}"), file: "t.yaml")
        #expect(profile.rules.first?.fault.params["latency"] == "168h")
    }

    /// A delay built with times no profile accepts (as a toxic's milliseconds may give)
    /// holds for the longest duration instead of trapping.
    @Test func aDelayBeyondInt64Saturates() {
        let longest = Duration.nanoseconds(Int64.max)
        for distribution in [DelayFault.Distribution.uniform, .normal] {
            let fault = DelayFault(latency: longest, jitter: longest, distribution: distribution)
            for unit in UInt64(0)..<64 {
                var random = DecisionRandom(DecisionKey(seed: 1, connection: 0, unit: unit, rule: 0))
                guard case .delay(let delay) = fault.effect(random: &random) else {
                    Issue.record("not a delay")
                    return
                }
                #expect(delay >= .zero && delay <= longest)
            }
        }
    }

    @Test func saturatingNanoseconds() {
        #expect(Duration.nanoseconds(saturating: 1.4e19) == .nanoseconds(Int64.max))
        #expect(Duration.nanoseconds(saturating: .infinity) == .nanoseconds(Int64.max))
        #expect(Duration.nanoseconds(saturating: -5) == .zero)
        #expect(Duration.nanoseconds(saturating: .nan) == .zero)
        #expect(Duration.nanoseconds(saturating: 1500.4) == .nanoseconds(1500))
    }

    /// A UDP `rate` of 1e-12 datagrams a second (accepted: above 0) waits longer than
    /// UInt64 nanoseconds count: the wait saturates.
    @Test func aTinyDatagramRateWaitsForEverWithoutTrapping() {
        var bucket = DatagramTokenBucket(DatagramRate(packetsPerSecond: 1e-12, burst: 1))
        let first = bucket.take(bytes: 100, now: 1)
        let second = bucket.take(bytes: 100, now: 2)
        #expect(first && !second)
        #expect(bucket.wait(bytes: 100) == UInt64.max)
    }
}
