import FaultlineCore
import FaultlineFraming
import Foundation
import Yams

/// A run file: the proxies a CI chaos stage starts, where their records go, and which
/// checks judge them afterwards (`faultline run --config FILE`).
///
///     faultline: 1
///     seed: 42
///     proxies:
///       - name: api
///         upstream: 127.0.0.1:8080
///         framing: http
///         profile: reply-lost
///     checks:
///       retries: {max_attempts: 4}
///
/// Like a profile it is YAML (JSON accepted), versioned, and read by hand from the
/// composed tree so every problem is reported at its `FILE:LINE:COLUMN`, all at once.
/// Paths in it (profiles, rules files, the output folder) are relative to the file.
package struct RunFile: Sendable {
    package static let formatVersion = 1
    static let topKeys = ["faultline", "seed", "output", "grace", "timeout", "kill_after", "proxies", "checks", "reports"]
    static let proxyKeys = [
        "name", "listen", "upstream", "transport", "framing", "length_prefix", "length_endian", "length_includes_prefix", "profile", "rules",
        "seed", "record_payloads", "pcap", "connect_timeout",
    ]

    /// One proxy of the run; its spec's record paths are filled when the output folder
    /// is known (`specs(output:seed:)`).
    package struct ProxyEntry: Sendable {
        package var spec: ProxySpec
        /// Whether the file pinned this proxy's seed.
        package var pinnedSeed: Bool
        /// Whether to write a pcap of it.
        package var pcap: Bool
    }

    /// `checks.retries`: `faultline check retries` over the framed proxies' logs.
    package struct RetriesCheck: Sendable, Equatable {
        /// Which proxies' logs; empty means every framed TCP proxy.
        package var proxies: [String] = []
        package var rules: String?
        package var maxAttempts: Int?
        package var deadline: Duration?
        package var window: Duration?
        package var keyHeader: String?
    }

    /// `checks.idempotency`: replay one proxy's recorded requests against a target.
    package struct IdempotencyCheck: Sendable, Equatable {
        package var proxy: String
        /// Default: the proxy's upstream.
        package var target: HostPort
        package var probes: [String] = []
        package var only: [String] = []
        package var mode: String?
        package var keyRequired: [String] = []
    }

    /// One `checks.idempotency.probe` as written, for the replay module (above this one)
    /// to read when the run file is read: a probe it cannot send is the run file's
    /// problem, found before anything starts.
    package struct Probe: Sendable, Equatable {
        package var text: String
        /// The replayed proxy's framing: `http`, `resp` or `line`.
        package var framing: String
        package var target: HostPort
        package var location: ProfileLocation
    }

    /// The file as given (for messages and the replay command).
    package var path: String
    package var seed: UInt64?
    /// Where records and reports go, relative to the working directory.
    package var output: String?
    package var grace: Duration
    /// How long the command may run before it is ended (`timeout`); nil: as long as it takes.
    package var timeout: Duration?
    /// After the timeout's SIGTERM, how long the command has before SIGKILL (`kill_after`).
    package var killAfter: Duration
    package var proxies: [ProxyEntry]
    package var retries: RetriesCheck?
    package var idempotency: IdempotencyCheck?
    /// Report formats written into the output folder (`junit`, `html`, `json`, `text`).
    package var reports: [String]

    package static let reportFormats = ["junit", "html", "json", "text"]

    /// `kill_after` when the file does not say.
    package static let defaultKillAfter = Duration.seconds(10)

    /// Reads and checks a run file.
    ///
    /// `rulesFile` reads the `checks.retries.rules` file it names (the retry checker
    /// lives above this module) and returns that file's problems, so they are reported
    /// with the run file's own, all at once. `probe` reads each `checks.idempotency.probe`
    /// the same way (the replay module's parser) and returns why it cannot be sent, or nil.
    ///
    /// - Throws: `ProfileError` (exit status 2) listing every problem as
    ///   `FILE:LINE:COLUMN: message`, including those in profiles it names or inlines,
    ///   in its rules file and in its probes.
    package static func load(
        path: String, loader: ProfileLoader = .fromEnvironment(), rulesFile: (String) -> [ProfileIssue] = { _ in [] },
        probe: (Probe) async -> String? = { _ in nil }
    ) async throws -> RunFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the run file" : "no such run file"
            throw ProfileError(ProfileLocation(file: path), reason)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ProfileError(ProfileLocation(file: path), "the run file is not UTF-8 text")
        }
        return try await Self.parse(text, file: path, loader: loader, rulesFile: rulesFile, probe: probe)
    }

    /// Reads run-file text; `file` names it in errors and anchors relative paths.
    package static func parse(
        _ text: String, file: String, loader: ProfileLoader = .fromEnvironment(), rulesFile: (String) -> [ProfileIssue] = { _ in [] },
        probe: (Probe) async -> String? = { _ in nil }
    ) async throws -> RunFile {
        let reader = ProfileReader(file: file)
        let (run, probes) = try Self.read(text, file: file, loader: loader, rulesFile: rulesFile, reader: reader)
        for site in probes {
            if let problem = await probe(site) { reader.fail(at: site.location, problem) }
        }
        if !reader.issues.isEmpty { throw ProfileError(reader.issues) }
        return run
    }

    /// The file as read, and the probes still to check; problems are left in `reader`.
    /// Throws only when there is nothing to read further (not YAML, not a mapping).
    private static func read(
        _ text: String, file: String, loader: ProfileLoader, rulesFile: (String) -> [ProfileIssue], reader: ProfileReader
    ) throws -> (RunFile, [Probe]) {
        let root = try YAMLFile.compose(text, file: file, kind: "a run file")
        guard let root, let top = reader.mapping(root, what: "a run file", allowed: Self.topKeys) else {
            if reader.issues.isEmpty {
                throw ProfileError(ProfileLocation(file: file, line: 1, column: 1), "the run file is empty; it starts with 'faultline: 1' and lists 'proxies:'")
            }
            throw ProfileError(reader.issues)
        }
        if let version = reader.required(top, "faultline", what: "a run file (format version, 'faultline: 1')"),
            let number = reader.integer(version, what: "faultline (the format version)"), number != Self.formatVersion
        {
            reader.fail(version, "unsupported run file version \(number); this build reads 'faultline: \(Self.formatVersion)'")
        }
        let directory = (file as NSString).deletingLastPathComponent
        var run = RunFile(path: file, grace: .seconds(5), killAfter: Self.defaultKillAfter, proxies: [], reports: ["junit", "html", "json"])
        var probes: [Probe] = []
        run.seed = top["seed"].flatMap { reader.integer($0, what: "seed") }.map { UInt64($0) }
        run.output = top["output"].flatMap { reader.nonEmptyString($0, what: "output (a folder)") }.map { Self.relative($0, to: directory) }
        if let grace = top["grace"] { run.grace = reader.duration(grace, what: "grace") ?? run.grace }
        run.timeout = top["timeout"].flatMap {
            Self.positiveDuration($0, what: "timeout", hint: "leave 'timeout' out to let the command run as long as it takes", reader: reader)
        }
        if let node = top["kill_after"] {
            run.killAfter = Self.positiveDuration(node, what: "kill_after", hint: "the time the command has to exit after SIGTERM, before SIGKILL", reader: reader) ?? run.killAfter
            // It would do nothing, and a reader would believe the command is bounded.
            if top["timeout"] == nil {
                reader.fail(node, "kill_after does nothing without a timeout: add 'timeout' (how long the command may run before SIGTERM), or leave kill_after out")
            }
        }
        if let reports = top["reports"], let items = reader.list(reports, what: "reports", singleAllowed: true) {
            run.reports = items.compactMap { item in
                guard let name = reader.string(item, what: "a report format") else { return nil }
                guard Self.reportFormats.contains(name) else {
                    reader.fail(item, "unknown report format '\(name)'; use \(Self.reportFormats.joined(separator: ", "))")
                    return nil
                }
                return name
            }
        }
        if let proxies = reader.required(top, "proxies", what: "a run file (the proxies to start)"),
            let items = reader.list(proxies, what: "proxies")
        {
            if items.isEmpty { reader.fail(proxies, "a run needs at least one proxy") }
            var named: [String: String] = [:]  // environment name: the proxy's name
            for (index, item) in items.enumerated() {
                let entry = Self.proxy(item, index: index, text: text, directory: directory, reader: reader, loader: loader)
                // `api-x` and `API_X` would both export FAULTLINE_API_X_ADDR: compare
                // what the command sees, not the spelling. A proxy with other problems
                // still has its name, so a clash is said in the same pass.
                if let name = entry?.spec.name ?? item["name"]?.scalar?.string, !name.isEmpty {
                    let variable = Self.environmentName(name)
                    if let other = named[variable] {
                        reader.fail(
                            item,
                            "proxies '\(other)' and '\(name)' would both be FAULTLINE_\(variable)_ADDR; names must differ in more than case and '-' or '_'"
                        )
                    } else {
                        named[variable] = name
                    }
                }
                if let entry { run.proxies.append(entry) }
            }
        }
        if let checks = top["checks"], let fields = reader.mapping(checks, what: "checks", allowed: ["retries", "idempotency"]) {
            if let node = fields["retries"] {
                run.retries = Self.retries(node, directory: directory, run: run, reader: reader, rulesFile: rulesFile)
            }
            if let node = fields["idempotency"] { run.idempotency = Self.idempotency(node, run: run, reader: reader, probes: &probes) }
        }
        if let idempotency = run.idempotency, let index = run.proxies.firstIndex(where: { $0.spec.name == idempotency.proxy }) {
            // Replay needs the requests' bytes.
            run.proxies[index].spec.framing.recordPayloads = true
        }
        if let retries = run.retries, let header = retries.keyHeader, header.lowercased() != "idempotency-key" {
            // Only Idempotency-Key is logged as a field; another header is read from the
            // requests' bytes, so the checked proxies record them.
            for index in run.proxies.indices where retries.proxies.isEmpty || retries.proxies.contains(run.proxies[index].spec.name) {
                run.proxies[index].spec.framing.recordPayloads = true
            }
        }
        return (run, probes)
    }

    /// The proxies' specs for a run writing into `output` with the run's seed `seed`
    /// (`--seed`, else the file's `seed`, else a random one): every proxy without a
    /// `seed` of its own takes it. A pinned proxy keeps its seed even under `--seed`, so
    /// `--seed S` alone always replays a run whatever the file pins.
    package func specs(output: String, seed: UInt64) -> [ProxySpec] {
        self.proxies.map { entry in
            var spec = entry.spec
            if !entry.pinnedSeed { spec.seed = seed }
            spec.records = ProxyRecords.Paths(
                log: (output as NSString).appendingPathComponent("\(spec.name).jsonl"),
                pcap: entry.pcap ? (output as NSString).appendingPathComponent("\(spec.name).pcap") : nil
            )
            // `run` shows progress and sums faults by rule.
            spec.tallies = true
            return spec
        }
    }

    // MARK: Entries

    private static func proxy(
        _ node: Node, index: Int, text: String, directory: String, reader: ProfileReader, loader: ProfileLoader
    ) -> ProxyEntry? {
        guard let fields = reader.mapping(node, what: "a proxy", allowed: Self.proxyKeys) else { return nil }
        let name = reader.required(fields, "name", what: "a proxy").flatMap { reader.nonEmptyString($0, what: "name") }
        if let name, let nameNode = fields["name"], !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) || !name.allSatisfy(\.isASCII) {
            reader.fail(nameNode, "proxy name '\(name)': use letters, digits, '-' and '_' (it becomes FAULTLINE_\(Self.environmentName(name))_ADDR)")
        }
        func address(_ key: String, default value: String?) -> HostPort? {
            guard let node = fields[key] else {
                if let value { return try? HostPort(parsing: value, what: key) }
                reader.fail(fields.node, "a proxy needs '\(key)' (HOST:PORT)")
                return nil
            }
            guard let text = reader.nonEmptyString(node, what: key) else { return nil }
            do {
                return try HostPort(parsing: text, what: key)
            } catch {
                reader.fail(node, "\(error)")
                return nil
            }
        }
        let listen = address("listen", default: "127.0.0.1:0")
        let upstream = address("upstream", default: nil)
        let transport = fields["transport"].map { reader.choice($0, what: "transport", as: ProxySpec.Transport.self) } ?? .tcp
        var profile: Profile?
        if fields["profile"] != nil, fields["rules"] != nil, let node = fields.key("rules") {
            reader.fail(node, "a proxy takes 'profile' or inline 'rules', not both (a profile file can say 'extends:')")
        } else if let node = fields["profile"], let reference = reader.nonEmptyString(node, what: "profile") {
            do {
                profile = try loader.load(Self.relativeProfile(reference, to: directory))
            } catch let error as ProfileError {
                // Problems inside the profile file name that file; a missing one is here.
                for issue in error.issues {
                    reader.fail(at: issue.location.line == nil ? reader.location(of: node) : issue.location, issue.message)
                }
            } catch {
                reader.fail(node, "\(error)")
            }
        } else if let node = fields["rules"], let key = fields.key("rules") {
            profile = Self.inlineProfile(
                rules: node, key: key, name: name ?? "proxy\(index)", transport: transport, text: text, reader: reader, loader: loader
            )
        }
        var framingName = profile?.framing?.rawValue ?? "raw"
        if let node = fields["framing"], let value = reader.nonEmptyString(node, what: "framing") { framingName = value }
        var prefix: LengthPrefix?
        if fields["length_prefix"] != nil || fields["length_endian"] != nil || fields["length_includes_prefix"] != nil {
            let width = fields["length_prefix"].flatMap { reader.integer($0, what: "length_prefix", in: 1...8) } ?? 4
            let endian = fields["length_endian"].flatMap { reader.choice($0, what: "length_endian", as: LengthPrefix.Endianness.self) } ?? .big
            let includesPrefix = fields["length_includes_prefix"].flatMap { reader.boolean($0, what: "length_includes_prefix") } ?? false
            if let node = fields["length_prefix"], !LengthPrefix.widths.contains(width) {
                // Never a silent 4: a prefix of another width frames nothing the client sent.
                reader.fail(node, "length_prefix must be 1, 2, 4 or 8 bytes, got \(width)")
            } else {
                prefix = try? LengthPrefix(width: width, endianness: endian, includesPrefix: includesPrefix)
            }
        }
        var framing = FramingConfiguration.raw
        do {
            framing = FramingConfiguration(kind: try FramingConfiguration.Kind(name: framingName, lengthPrefix: prefix))
        } catch {
            reader.fail(fields["framing"] ?? fields.node, error.description)
        }
        framing.recordPayloads = fields["record_payloads"].flatMap { reader.boolean($0, what: "record_payloads") } ?? false
        if transport == .udp, framing.kind != .raw, let node = fields["framing"] {
            reader.fail(node, "framing applies to TCP proxies only")
        }
        if let profile, let transport, let node = fields.key("rules") ?? fields["profile"] {
            Self.checkCarriable(profile, transport: transport, framing: framing, at: node, reader: reader)
        }
        let seed = fields["seed"].flatMap { reader.integer($0, what: "seed") }.map { UInt64($0) }
        let pcap = fields["pcap"].flatMap { reader.boolean($0, what: "pcap") } ?? false
        let connectTimeout = fields["connect_timeout"].flatMap {
            Self.positiveDuration($0, what: "connect_timeout", hint: "a dial given no time always fails; the default is 5s", reader: reader)
        } ?? .seconds(5)
        guard let name, let listen, let upstream, let transport else { return nil }
        let spec = ProxySpec(
            name: name, transport: transport, listen: listen, upstream: upstream, profile: profile, seed: seed, framing: framing,
            connectTimeout: connectTimeout, index: UInt32(index)
        )
        return ProxyEntry(spec: spec, pinnedSeed: seed != nil, pcap: pcap)
    }

    /// Inline `rules:` read as a profile whose lines and columns are the run file's:
    /// the block is copied at the same lines and columns (the list dash blanked), and the
    /// profile's own header goes after it, so any problem points into the run file.
    ///
    /// The block is the key's line and every line after it indented deeper, or at the
    /// key's own column when it starts a sequence item (`- `): YAML lets a list sit at
    /// its key's indentation, and without that the rules were cut off ("got nothing").
    private static func inlineProfile(
        rules: Node, key: Node, name: String, transport: ProxySpec.Transport?, text: String, reader: ProfileReader, loader: ProfileLoader
    ) -> Profile? {
        guard let mark = key.mark else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = mark.line - 1
        let indent = mark.column - 1
        guard first < lines.count else { return nil }
        var block: [String] = []
        var keyLine = Array(lines[first])
        for column in 0..<min(indent, keyLine.count) where keyLine[column] == "-" { keyLine[column] = " " }
        block.append(String(keyLine))
        var next = first + 1
        while next < lines.count {
            let line = lines[next]
            let spaces = line.prefix { $0 == " " }.count
            let rest = line.dropFirst(spaces)
            let item = spaces == indent && (rest == "-" || rest.hasPrefix("- "))
            if rest.trimmingCharacters(in: .whitespaces).isEmpty || rest.hasPrefix("#") || spaces > indent || item {
                block.append(line)
                next += 1
            } else {
                break
            }
        }
        let pad = String(repeating: " ", count: indent)
        // A UDP proxy's inline rules are a UDP profile: its datagram kinds are refused otherwise.
        let header = [
            "\(pad)faultline: 1", "\(pad)name: \(name)-inline", "\(pad)description: rules written inline in the run file",
        ] + (transport == .udp ? ["\(pad)transport: udp"] : [])
        let synthetic = (Array(repeating: "", count: first) + block + header).joined(separator: "\n")
        do {
            return try loader.load(text: synthetic, file: reader.file)
        } catch let error as ProfileError {
            for issue in error.issues { reader.fail(at: issue.location, issue.message) }
        } catch {
            reader.fail(rules, "\(error)")
        }
        return nil
    }

    /// A profile this proxy cannot carry out (the other transport's; message rules
    /// without framing; a reply the framing cannot carry) is the run file's problem:
    /// found before anything starts, at the proxy's `profile` or `rules`, in the run
    /// file's words. The host would refuse it too, but without a place in the file and
    /// naming `faultline proxy` flags.
    private static func checkCarriable(
        _ profile: Profile, transport: ProxySpec.Transport, framing: FramingConfiguration, at node: Node, reader: ProfileReader
    ) {
        let named = profile.source.hasPrefix("library:") ? "profile '\(profile.name)'" : "profile '\(profile.name)' (\(profile.source))"
        guard profile.transport.rawValue == transport.rawValue else {
            reader.fail(node, "\(named) is for \(profile.transport.rawValue.uppercased()); set 'transport: \(profile.transport.rawValue)' on this proxy, or use a \(transport.rawValue.uppercased()) profile")
            return
        }
        guard transport == .tcp, let kind = Profile.Framing(rawValue: framing.kind.name) else { return }
        do {
            try profile.checkMessageRules(
                framing: kind, howToFrame: "set 'framing:' on this proxy (http, resp, line or length)", framingSetting: "framing"
            )
        } catch {
            for issue in error.issues {
                if issue.location.file == reader.file {
                    reader.fail(at: issue.location, issue.message)  // inline rules: already the run file's line
                } else {
                    reader.fail(node, "\(named): \(issue.message)")
                }
            }
        }
    }

    // MARK: Checks

    private static func retries(
        _ node: Node, directory: String, run: RunFile, reader: ProfileReader, rulesFile: (String) -> [ProfileIssue]
    ) -> RetriesCheck? {
        var check = RetriesCheck()
        if case .scalar(let scalar) = node, let enabled = Bool(scalar.string) {
            return enabled ? check : nil
        }
        let allowed = ["proxies", "rules", "max_attempts", "deadline", "window", "key_header"]
        guard let fields = reader.mapping(node, what: "checks.retries", allowed: allowed) else { return nil }
        if let proxies = fields["proxies"], let items = reader.list(proxies, what: "checks.retries.proxies", singleAllowed: true) {
            for item in items {
                guard let name = reader.nonEmptyString(item, what: "a proxy name") else { continue }
                guard let entry = run.proxies.first(where: { $0.spec.name == name }) else {
                    reader.fail(item, "no proxy named '\(name)' in this run (proxies: \(run.proxies.map(\.spec.name).joined(separator: ", ")))")
                    continue
                }
                if entry.spec.transport == .tcp, entry.spec.framing.kind == .raw {
                    reader.fail(item, "proxy '\(name)' has no framing: the retry check needs requests (set framing: http, resp, line or length)")
                }
                check.proxies.append(name)
            }
        }
        check.rules = fields["rules"].flatMap { reader.nonEmptyString($0, what: "rules (a rules file)") }.map { Self.relative($0, to: directory) }
        if let path = check.rules, let node = fields["rules"] {
            // Problems inside the rules file name that file; one it cannot read is here.
            for issue in rulesFile(path) {
                reader.fail(at: issue.location.line == nil ? reader.location(of: node) : issue.location, issue.message)
            }
        }
        check.maxAttempts = fields["max_attempts"].flatMap { reader.integer($0, what: "max_attempts", in: 1...1000) }
        check.deadline = fields["deadline"].flatMap { reader.duration($0, what: "deadline") }
        check.window = fields["window"].flatMap { reader.duration($0, what: "window") }
        check.keyHeader = fields["key_header"].flatMap { reader.nonEmptyString($0, what: "key_header") }
        return check
    }

    private static func idempotency(_ node: Node, run: RunFile, reader: ProfileReader, probes: inout [Probe]) -> IdempotencyCheck? {
        let allowed = ["proxy", "target", "probe", "only", "mode", "key_required"]
        guard let fields = reader.mapping(node, what: "checks.idempotency", allowed: allowed) else { return nil }
        guard let proxyNode = reader.required(fields, "proxy", what: "checks.idempotency (whose recorded requests to replay)"),
            let name = reader.nonEmptyString(proxyNode, what: "proxy")
        else { return nil }
        guard let entry = run.proxies.first(where: { $0.spec.name == name }) else {
            reader.fail(proxyNode, "no proxy named '\(name)' in this run")
            return nil
        }
        // What replay speaks (FaultlineReplay's ReplayProtocol): a length prefix frames
        // messages but carries no operation or reply boundary replay could judge.
        if entry.spec.transport == .udp {
            reader.fail(proxyNode, "proxy '\(name)' is a UDP proxy; replay needs a TCP proxy framed http, resp or line")
        } else if !["http", "resp", "line"].contains(entry.spec.framing.kind.name) {
            let framing = entry.spec.framing.kind == .raw ? "has no framing" : "is framed \(entry.spec.framing.kind.name)"
            reader.fail(proxyNode, "proxy '\(name)' \(framing); replay needs a TCP proxy framed http, resp or line (set its 'framing:')")
        }
        let replayable = entry.spec.transport == .tcp && ["http", "resp", "line"].contains(entry.spec.framing.kind.name)
        var target = entry.spec.upstream
        if let node = fields["target"], let text = reader.nonEmptyString(node, what: "target") {
            do { target = try HostPort(parsing: text, what: "target") } catch { reader.fail(node, "\(error)") }
        }
        var check = IdempotencyCheck(proxy: name, target: target)
        func strings(_ key: String) -> [String] {
            guard let node = fields[key], let items = reader.list(node, what: key, singleAllowed: true) else { return [] }
            return items.compactMap { reader.nonEmptyString($0, what: key) }
        }
        if let node = fields["probe"], let items = reader.list(node, what: "probe", singleAllowed: true) {
            for item in items {
                guard let text = reader.nonEmptyString(item, what: "probe") else { continue }
                check.probes.append(text)
                // Each with its place, for the replay module's parser (it knows the
                // wire): a probe it cannot send fails now, not after the command ran.
                if replayable {
                    probes.append(Probe(text: text, framing: entry.spec.framing.kind.name, target: target, location: reader.location(of: item)))
                }
            }
        }
        check.only = strings("only")
        check.keyRequired = strings("key_required")
        if let node = fields["mode"], let mode = reader.nonEmptyString(node, what: "mode") {
            if ["strict", "semantic"].contains(mode) { check.mode = mode } else { reader.fail(node, "mode '\(mode)': use strict or semantic") }
        }
        return check
    }

    // MARK: Values

    /// A duration more than 0 (`timeout`, `kill_after`): 0 is refused, with `hint` after
    /// the reason, never read as "no limit" or as "at once"; so is a negative one.
    private static func positiveDuration(_ node: Node, what: String, hint: String, reader: ProfileReader) -> Duration? {
        if case .scalar(let scalar) = node, scalar.string.hasPrefix("-"), DurationText.parse(String(scalar.string.dropFirst())) != nil {
            reader.fail(node, "\(what) must be more than 0, got '\(scalar.string)'")
            return nil
        }
        guard let duration = reader.duration(node, what: what) else { return nil }
        guard duration > .zero else {
            reader.fail(node, "\(what) must be more than 0, got '\(node.scalar?.string ?? "0")' (\(hint))")
            return nil
        }
        return duration
    }

    // MARK: Names and paths

    /// `api-gateway` → `API_GATEWAY`, for `FAULTLINE_<NAME>_ADDR`.
    package static func environmentName(_ name: String) -> String {
        String(name.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    static func relative(_ path: String, to directory: String) -> String {
        guard !path.hasPrefix("/"), !directory.isEmpty else { return path }
        return (directory as NSString).appendingPathComponent(path)
    }

    /// A file reference (has a '/' or a profile ending) is relative to the run file; a
    /// bare name is a library name.
    static func relativeProfile(_ reference: String, to directory: String) -> String {
        let isFile = reference.contains("/") || [".yaml", ".yml", ".json"].contains { reference.hasSuffix($0) }
        return isFile ? Self.relative(reference, to: directory) : reference
    }
}
