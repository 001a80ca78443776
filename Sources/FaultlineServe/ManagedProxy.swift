import FaultlineCore
import FaultlineFraming
import FaultlineHost

/// One proxy the server hosts, running or not: what was asked for, the toxics, rules and
/// profile that make its plan, and the running proxy when it is enabled.
struct ManagedProxy: Sendable {
    var name: String
    var transport: ProxySpec.Transport
    var framing: FramingConfiguration
    /// The listen address: as asked until it first listens, then the real one (so a
    /// proxy disabled and enabled again comes back on the same port).
    var listen: String
    /// Kept as written; resolved at each dial.
    var upstream: String
    var enabled: Bool
    var seed: UInt64
    /// Part of every decision key: a hash of the name, so the same name and seed give
    /// the same decisions whatever else the server hosts.
    var index: UInt32
    /// Toxiproxy toxics in the order they were added.
    var toxics: [Toxic] = [] {
        didSet { self.rememberKinds() }
    }
    /// A whole profile put through `/v1` (its rules first in the plan).
    var profile: Profile? {
        didSet { self.rememberKinds() }
    }
    /// Single rules added through `/v1`, after the profile's.
    var rules: [Rule] = [] {
        didSet { self.rememberKinds() }
    }
    /// The fault kind of every rule its plan has had, by name, removed rules included:
    /// its faults are counted by rule name for as long as the proxy lives, so a rule
    /// taken off the plan still has its faults labelled with their kind on /metrics.
    var ruleKinds: [String: String] = [:]
    var running: (any ControlledProxy)?
    /// Which proxy of this name it is: a proxy deleted and created again is another,
    /// and a follower of the first one's events ends with it.
    var serial = 0
    /// The running proxy's plan number: 1 when it starts (as `proxy_start` says), one more for each change.
    var planVersion: UInt64 = 0
    /// The event log of the current (or last) run, when the server keeps logs.
    var logPath: String?
    /// The number of its last log file (`NAME.N.jsonl`; counting earlier proxies of this
    /// name), or of its starts without a log: the next run looks for a free file after it.
    var starts = 0
    /// How many captures it has had (likewise): later ones write new files.
    var captures = 0
    /// Whether it captures both legs to a pcap file (in its current run, or its next
    /// one while it is disabled).
    var capture = false
    /// What the last capture, now closed, wrote and dropped.
    var lastCapture: CaptureCounts?

    /// The capture as `/v1/proxies/{p}/pcap` answers it: whether it captures (a disabled
    /// proxy from when it is enabled), the file being written or else the last one,
    /// and that file's packets written and dropped.
    var captureJSON: JSONValue {
        let counts = self.running?.captureCounts ?? self.lastCapture
        return .object([
            ("capturing", .bool(self.capture)),
            ("file", counts.map { JSONValue.string($0.file) } ?? .null),
            ("packets", .integer(Int64(counts?.written ?? 0))),
            ("dropped", .integer(Int64(counts?.dropped ?? 0))),
        ])
    }

    /// Adds the kinds of the plan's rules to `ruleKinds` (done as the plan changes, and
    /// once when the proxy is made).
    mutating func rememberKinds() {
        for rule in self.plan?.rules ?? [] { self.ruleKinds[rule.name] = rule.kind }
    }

    /// Toxics as Toxiproxy lists them: the upstream chain, then the downstream one.
    var listedToxics: [Toxic] {
        self.toxics.filter { $0.stream == .upstream } + self.toxics.filter { $0.stream == .downstream }
    }

    /// Every rule name in use: the profile's, the single rules', the toxics'.
    var ruleNames: Set<String> {
        Set((self.profile?.rules ?? []).map(\.name) + self.rules.map(\.name) + self.toxics.flatMap { ToxicMapping.rules(for: $0).map(\.name) })
    }

    /// The plan to run: the profile's rules, then single rules, then each toxic's; nil
    /// when nothing at all is asked for.
    var plan: Profile? {
        let toxicRules = self.listedToxics.flatMap(ToxicMapping.rules(for:))
        if self.profile == nil, self.rules.isEmpty, toxicRules.isEmpty { return nil }
        let base = self.profile
        var description = base?.description ?? "set through faultline serve"
        if !self.toxics.isEmpty { description += " (with toxics: \(self.listedToxics.map(\.name).joined(separator: ", ")))" }
        return Profile(
            name: base?.name ?? "serve",
            description: description,
            seed: nil,
            framing: base?.framing,
            transport: self.transport == .udp ? .udp : .tcp,
            rules: (base?.rules ?? []) + self.rules + toxicRules,
            schedule: base?.schedule,
            extends: base?.extends ?? [],
            source: base?.source ?? "serve:\(self.name)",
            hash: base?.hash ?? ""
        )
    }

    /// Toxiproxy's form: `{"name","listen","upstream","enabled","toxics"}`.
    var toxiproxyJSON: JSONValue {
        .object([
            ("name", .string(self.name)),
            ("listen", .string(self.listen)),
            ("upstream", .string(self.upstream)),
            ("enabled", .bool(self.enabled)),
            ("toxics", .array(self.listedToxics.map(\.json))),
        ])
    }

    /// FNV-1a of the name, folded to 32 bits.
    static func index(of name: String) -> UInt32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return UInt32(truncatingIfNeeded: hash ^ (hash >> 32))
    }
}
