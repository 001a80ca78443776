import FaultlineCore
import FaultlineFraming
import FaultlineHost
import Foundation
import Logging

/// Every proxy the server hosts, and every change to them.
///
/// Changes are serialised (one at a time, in arrival order) so two requests never
/// interleave a proxy's start, stop or plan change; reads are answered at once from the
/// last settled state. Nothing here runs on a proxy's event loops: a plan change hands
/// the engine a new plan and returns, so a busy proxy cannot stall the API, and a slow
/// API call cannot stall a proxy.
package actor ProxyStore {
    private var proxies: [String: ManagedProxy] = [:]
    private let options: ServeOptions
    private let launch: ProxyLauncher
    private let logger: Logger
    /// The one change in progress, and those waiting their turn.
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    /// Where captures asked for through the API go without `--pcap DIR`: made on first
    /// use, readable by this user only.
    private var scratchCaptureDirectory: String?
    /// Proxies made so far: each one's `serial`.
    private var made = 0
    /// Every log and capture file this server has given a proxy (full paths). A file is
    /// never given twice, so no log or capture it wrote is written over (nor read from
    /// under a follower of the proxy that wrote it): not by a proxy created again under
    /// a deleted one's name, nor by another whose numbered file has the same name (`a`
    /// started a second time and a proxy named `a.2` would both write `a.2.jsonl`).
    private var claimed: Set<String> = []

    package init(options: ServeOptions, logger: Logger, launch: @escaping ProxyLauncher) {
        self.options = options
        self.logger = logger
        self.launch = launch
    }

    private func acquire() async {
        while self.busy {
            await withCheckedContinuation { self.waiting.append($0) }
        }
        self.busy = true
    }

    private func release() {
        self.busy = false
        if !self.waiting.isEmpty { self.waiting.removeFirst().resume() }
    }

    // MARK: Reading

    /// Every proxy, by name.
    var all: [ManagedProxy] {
        self.proxies.values.sorted { $0.name < $1.name }
    }

    func proxy(_ name: String) throws(ServeError) -> ManagedProxy {
        guard let proxy = self.proxies[name] else { throw .proxyNotFound(name) }
        return proxy
    }

    /// The event log proxy `name` writes now (a new one each time it starts), while it
    /// is the proxy numbered `serial`; nil once that proxy is gone. A log it no longer
    /// writes is complete: the proxy that wrote it stopped and flushed it first.
    func eventLog(of name: String, serial: Int) -> String? {
        guard let entry = self.proxies[name], entry.serial == serial else { return nil }
        return entry.logPath
    }

    func toxic(_ name: String, of proxy: String) throws(ServeError) -> Toxic {
        guard let toxic = try self.proxy(proxy).toxics.first(where: { $0.name == name }) else { throw .toxicNotFound }
        return toxic
    }

    // MARK: Captures

    /// Starts capturing both legs of a proxy, open connections included, to a new pcap
    /// file, while it runs: nothing is restarted. A disabled proxy captures from when it
    /// is enabled.
    func startCapture(_ name: String) async throws(ServeError) -> ManagedProxy {
        await self.acquire()
        defer { self.release() }
        guard var entry = self.proxies[name] else { throw .proxyNotFound(name) }
        guard !entry.capture else {
            let file = entry.running?.captureCounts?.file ?? "a new file once it is enabled"
            throw ServeError(409, "proxy '\(name)' is already capturing, to \(file)")
        }
        if let running = entry.running {
            let path = try self.nextCaptureFile(&entry)
            do {
                _ = try await running.startCapture(path, buffer: self.options.pcapBuffer, maxFileSize: nil)
            } catch {
                throw Self.mapped(error, listen: entry.listen)
            }
        }
        entry.capture = true
        self.proxies[name] = entry
        return entry
    }

    /// Stops a proxy's capture: no packet reaches it any more, and the file is flushed
    /// and closed, complete. The proxy and its connections carry on.
    func stopCapture(_ name: String) async throws(ServeError) -> ManagedProxy {
        await self.acquire()
        defer { self.release() }
        guard var entry = self.proxies[name] else { throw .proxyNotFound(name) }
        guard entry.capture else {
            throw ServeError(409, "proxy '\(name)' is not capturing: start a capture with POST /v1/proxies/\(name)/pcap")
        }
        entry.capture = false
        if let running = entry.running {
            do {
                if let counts = try await running.stopCapture() { entry.lastCapture = counts }
            } catch {
                self.proxies[name] = entry
                throw Self.mapped(error, listen: entry.listen)
            }
        }
        self.proxies[name] = entry
        return entry
    }

    /// The part of a file name that numbers a proxy's later runs or captures: none for
    /// the first, `.2`, `.3`, … after.
    private static func numbered(_ count: Int) -> String {
        count == 1 ? "" : ".\(count)"
    }

    /// The file the proxy's next capture goes to: `NAME.pcap`, then `NAME.2.pcap`, …,
    /// skipping any this server gave out before.
    private func nextCaptureFile(_ entry: inout ManagedProxy) throws(ServeError) -> String {
        let directory = try self.captureDirectory()
        let (path, number) = self.unclaimed(directory: directory, name: entry.name, after: entry.captures, extension: "pcap")
        entry.captures = number
        self.claimed.insert(path)
        return path
    }

    /// The first file `DIRECTORY/NAME[.N].EXTENSION` numbered after `after` that no
    /// proxy of this server has had, and its number.
    private func unclaimed(directory: String, name: String, after: Int, extension: String) -> (path: String, number: Int) {
        var number = after + 1
        while true {
            let path = "\(directory)/\(Self.fileName(name))\(Self.numbered(number)).\(`extension`)"
            if !self.claimed.contains(path) { return (path, number) }
            number += 1
        }
    }

    /// The directory captures go to: `--pcap DIR`, else the server's own.
    private func captureDirectory() throws(ServeError) -> String {
        if let directory = self.options.pcapDirectory { return directory }
        if let directory = self.scratchCaptureDirectory { return directory }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("faultline-serve-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))").path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ServeError(500, "cannot make a directory for captures at \(directory): \(error.localizedDescription); start the server with --pcap DIR")
        }
        self.scratchCaptureDirectory = directory
        return directory
    }

    /// The name of every proxy, running or not.
    var names: Set<String> {
        Set(self.proxies.keys)
    }

    /// What metrics read, in one look so a proxy deleted meanwhile is in neither part:
    /// the running proxies, and the name of every proxy, running or not.
    var forMetrics: (running: [(name: String, proxy: any ControlledProxy, rules: [String: String], plan: UInt64)], names: Set<String>) {
        (self.running, self.names)
    }

    /// A snapshot for metrics: name, the running proxy (its counts), the kind of every
    /// rule it has had by name, its plan version.
    var running: [(name: String, proxy: any ControlledProxy, rules: [String: String], plan: UInt64)] {
        self.all.compactMap { entry in
            guard let proxy = entry.running else { return nil }
            return (entry.name, proxy, entry.ruleKinds, entry.planVersion)
        }
    }

    // MARK: Proxies

    /// Creates a proxy and starts it when enabled. A proxy that cannot listen is not kept.
    func create(_ request: ProxyRequest) async throws(ServeError) -> ManagedProxy {
        await self.acquire()
        defer { self.release() }
        guard self.proxies[request.name] == nil else { throw .proxyExists }
        var entry = try self.entry(for: request)
        if entry.enabled { try await self.start(&entry) }
        self.proxies[entry.name] = entry
        return entry
    }

    /// Changes a proxy's listen address, upstream or enabled state (Toxiproxy's update):
    /// a new address or upstream restarts it (open connections close); disabling closes
    /// the listener and every connection; enabling listens again.
    ///
    /// A change that cannot be made leaves the proxy as it was. A running proxy moving to
    /// another port listens there before its old listener closes, so an address in use
    /// refuses the change with the old proxy untouched (its connections, plan and log
    /// carry on). One that must give up its own port first (a new upstream, or another
    /// host on the same port) is started again on its old address and upstream when the
    /// new ones fail; should even that fail, it is reported disabled, never enabled on an
    /// address it does not hold.
    func update(_ name: String, listen: String?, upstream: String?, enabled: Bool?) async throws(ServeError) -> ManagedProxy {
        await self.acquire()
        defer { self.release() }
        guard let before = self.proxies[name] else { throw .proxyNotFound(name) }
        let newListen = listen ?? before.listen
        let newUpstream = upstream ?? before.upstream
        let newEnabled = enabled ?? before.enabled
        try Self.check(listen: newListen, upstream: newUpstream)
        let moves = newListen != before.listen || newUpstream != before.upstream
        var entry = before

        guard entry.running != nil else {
            // Disabled: nothing listens, so only an enable can fail, and then nothing changed.
            entry.listen = newListen
            entry.upstream = newUpstream
            if newEnabled { try await self.start(&entry) }
            entry.enabled = newEnabled
            self.proxies[name] = entry
            return entry
        }
        guard newEnabled else {
            await self.stop(&entry)
            entry.listen = newListen
            entry.upstream = newUpstream
            entry.enabled = false
            self.proxies[name] = entry
            return entry
        }
        guard moves else { return entry }

        if Self.needsOwnPort(from: before.listen, to: newListen) {
            // The new listener would clash with the old one: stop first, and come back
            // on the old address if the new one fails.
            await self.stop(&entry)
            var moved = entry
            moved.listen = newListen
            moved.upstream = newUpstream
            do throws(ServeError) {
                try await self.start(&moved)
                self.proxies[name] = moved
                return moved
            } catch {
                do throws(ServeError) {
                    try await self.start(&entry)
                } catch let restart {
                    entry.enabled = false
                    self.logger.error(
                        "proxy could not listen again on its old address after a refused change; it is disabled",
                        metadata: ["proxy.name": "\(name)", "proxy.listen": "\(entry.listen)", "error": "\(restart.message)"]
                    )
                }
                self.proxies[name] = entry
                throw error
            }
        }
        // Another port: listen there first; the old proxy stops only once it does.
        var moved = entry
        moved.running = nil
        moved.listen = newListen
        moved.upstream = newUpstream
        try await self.start(&moved)
        await self.stop(&entry)
        moved.lastCapture = entry.lastCapture
        self.proxies[name] = moved
        return moved
    }

    /// Whether a proxy moving from `old` to `new` must close its own listener before the
    /// new one can bind: the same port (a new upstream, or another host on that port).
    private static func needsOwnPort(from old: String, to new: String) -> Bool {
        guard let from = try? HostPort(parsing: old, what: "listen"), let to = try? HostPort(parsing: new, what: "listen") else { return true }
        return to.port != 0 && to.port == from.port
    }

    /// Stops a proxy, then forgets it (so followers of its events read its last ones,
    /// written as it stops, before their answer ends).
    func delete(_ name: String) async throws(ServeError) {
        await self.acquire()
        defer { self.release() }
        guard var entry = self.proxies[name] else { throw .proxyNotFound(name) }
        await self.stop(&entry)
        self.retire(entry)
    }

    /// Forgets a stopped proxy (its files stay claimed: a proxy created again under
    /// its name writes new ones).
    private func retire(_ entry: ManagedProxy) {
        self.proxies[entry.name] = nil
    }

    /// Toxiproxy's `/populate`: every entry is checked by the caller first; then, in
    /// order, a proxy with the same name, listen and upstream is kept as it is (toxics
    /// and all), one that differs is replaced, a new one is created. The first failure
    /// stops the work; what was done stays and is returned with the error.
    func populate(_ requests: [ProxyRequest]) async -> (done: [ManagedProxy], error: ServeError?) {
        await self.acquire()
        defer { self.release() }
        var done: [ManagedProxy] = []
        for request in requests {
            do throws(ServeError) {
                if let existing = self.proxies[request.name] {
                    let listen = request.listen.flatMap { $0.isEmpty ? nil : $0 } ?? self.options.defaultListen
                    if Self.sameAddress(listen, existing.listen), request.upstream == existing.upstream {
                        done.append(existing)
                        continue
                    }
                    var old = existing
                    await self.stop(&old)
                    self.retire(old)
                }
                var entry = try self.entry(for: request)
                if entry.enabled { try await self.start(&entry) }
                self.proxies[entry.name] = entry
                done.append(entry)
            } catch {
                return (done, error)
            }
        }
        return (done, nil)
    }

    /// Toxiproxy's `/reset`: every proxy enabled again and every toxic removed. With
    /// `everything`, the `/v1` profiles and rules go too. A proxy that cannot listen
    /// again stays disabled (its toxics gone all the same) and the others are reset
    /// anyway; the first such failure is then thrown.
    func reset(everything: Bool) async throws(ServeError) {
        await self.acquire()
        defer { self.release() }
        var failure: ServeError?
        for name in self.proxies.keys.sorted() {
            guard var entry = self.proxies[name] else { continue }
            entry.toxics = []
            if everything {
                entry.rules = []
                entry.profile = nil
            }
            do throws(ServeError) {
                if entry.running == nil {
                    try await self.start(&entry)
                    entry.enabled = true
                } else {
                    try await self.applyPlan(&entry)
                }
                self.proxies[name] = entry
            } catch {
                if entry.running == nil { self.proxies[name] = entry }
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
    }

    /// Stops every proxy, letting open connections finish for the shutdown grace, and
    /// flushes their records.
    /// Ends the grace of `shutdown` at once for every proxy (a second SIGINT or
    /// SIGTERM): open connections close, and every log and capture is still flushed.
    /// Not behind the store's lock, which `shutdown` holds while it waits.
    package func endGrace() {
        for entry in self.proxies.values { entry.running?.endGrace() }
    }

    package func shutdown() async {
        await self.acquire()
        defer { self.release() }
        await withTaskGroup(of: Void.self) { group in
            for entry in self.proxies.values {
                guard let running = entry.running else { continue }
                let grace = self.options.shutdownGrace
                let logger = self.logger
                group.addTask {
                    do { try await running.stop(grace: grace) } catch {
                        logger.error("proxy did not stop cleanly", metadata: ["proxy.name": "\(entry.name)", "error": "\(error)"])
                    }
                }
            }
        }
        for name in self.proxies.keys { self.proxies[name]?.running = nil }
    }

    // MARK: Toxics

    func addToxic(_ toxic: Toxic, to name: String) async throws(ServeError) -> Toxic {
        try await self.change(name) { entry throws(ServeError) in
            guard !entry.toxics.contains(where: { $0.name == toxic.name }) else { throw .toxicExists }
            try Self.checkToxicFits(toxic, entry)
            entry.toxics.append(toxic)
        }
        return toxic
    }

    /// Toxiproxy's update: attributes merge into the current values; toxicity is
    /// replaced when given.
    func updateToxic(_ toxicName: String, of name: String, attributes: [String: Int64], toxicity: Float?) async throws(ServeError) -> Toxic {
        var updated: Toxic?
        try await self.change(name) { entry throws(ServeError) in
            guard let index = entry.toxics.firstIndex(where: { $0.name == toxicName }) else { throw .toxicNotFound }
            var toxic = entry.toxics[index]
            for (key, value) in attributes where toxic.type.attributes.contains(key) {
                toxic.attributes[key] = value
            }
            if let toxicity { toxic.toxicity = toxicity }
            entry.toxics[index] = toxic
            updated = toxic
        }
        guard let updated else { throw .toxicNotFound }
        return updated
    }

    func removeToxic(_ toxicName: String, of name: String) async throws(ServeError) {
        try await self.change(name) { entry throws(ServeError) in
            guard let index = entry.toxics.firstIndex(where: { $0.name == toxicName }) else { throw .toxicNotFound }
            entry.toxics.remove(at: index)
        }
    }

    // MARK: Profiles and rules (/v1)

    func setProfile(_ profile: Profile?, on name: String) async throws(ServeError) -> ManagedProxy {
        try await self.change(name) { entry throws(ServeError) in
            if let profile {
                let others = Set(entry.rules.map(\.name) + entry.toxics.flatMap { ToxicMapping.rules(for: $0).map(\.name) })
                if let clash = profile.rules.first(where: { others.contains($0.name) }) {
                    throw ServeError(409, "the profile's rule '\(clash.name)' has the name of a rule or toxic already on proxy '\(name)'")
                }
            }
            entry.profile = profile
        }
    }

    func addRule(_ rule: Rule, to name: String) async throws(ServeError) -> ManagedProxy {
        try await self.change(name) { entry throws(ServeError) in
            guard !entry.ruleNames.contains(rule.name) else {
                throw ServeError(409, "proxy '\(name)' already has a rule or toxic named '\(rule.name)'")
            }
            entry.rules.append(rule)
        }
    }

    func removeRule(_ ruleName: String, from name: String) async throws(ServeError) -> ManagedProxy {
        try await self.change(name) { entry throws(ServeError) in
            guard let index = entry.rules.firstIndex(where: { $0.name == ruleName }) else {
                if entry.profile?.rules.contains(where: { $0.name == ruleName }) == true {
                    throw ServeError(409, "rule '\(ruleName)' belongs to the profile on proxy '\(name)'; put another profile, or delete the profile")
                }
                if let toxic = entry.toxics.first(where: { toxic in ToxicMapping.rules(for: toxic).contains { $0.name == ruleName } }) {
                    throw ServeError(
                        409,
                        "rule '\(ruleName)' belongs to the toxic '\(toxic.name)' on proxy '\(name)': delete it with DELETE /proxies/\(ControlAPI.pathSegment(name))/toxics/\(ControlAPI.pathSegment(toxic.name))"
                    )
                }
                throw ServeError(404, "rule not found: proxy '\(name)' has no rule '\(ruleName)'")
            }
            entry.rules.remove(at: index)
        }
    }

    // MARK: Changing a plan

    /// Applies `edit` to a proxy and, when it runs, swaps its plan; when the engine
    /// refuses the new plan, nothing changes.
    @discardableResult
    private func change(_ name: String, _ edit: (inout ManagedProxy) throws(ServeError) -> Void) async throws(ServeError) -> ManagedProxy {
        await self.acquire()
        defer { self.release() }
        guard let before = self.proxies[name] else { throw .proxyNotFound(name) }
        var entry = before
        try edit(&entry)
        try await self.applyPlan(&entry)
        self.proxies[name] = entry
        return entry
    }

    private func applyPlan(_ entry: inout ManagedProxy) async throws(ServeError) {
        guard let running = entry.running else { return }
        do {
            entry.planVersion = try await running.apply(entry.plan)
        } catch {
            throw Self.mapped(error, listen: entry.listen)
        }
    }

    // MARK: Starting and stopping

    private func entry(for request: ProxyRequest) throws(ServeError) -> ManagedProxy {
        let listen = request.listen.flatMap { $0.isEmpty ? nil : $0 } ?? self.options.defaultListen
        try Self.check(listen: listen, upstream: request.upstream)
        var framing: FramingConfiguration
        if let given = request.framing {
            framing = given
        } else if let name = request.profile?.framing?.rawValue, request.transport == .tcp {
            do { framing = FramingConfiguration(kind: try FramingConfiguration.Kind(name: name, lengthPrefix: name == "length" ? try LengthPrefix() : nil)) } catch {
                throw ServeError(400, error.description)
            }
        } else {
            framing = .raw
        }
        if request.recordPayloads {
            guard framing.kind != .raw else {
                throw ServeError(400, "record_payloads needs framing (http, resp, line or length; or a profile's framing:): a raw proxy has no messages to record")
            }
            framing.recordPayloads = true
        }
        self.made += 1
        var entry = ManagedProxy(
            name: request.name,
            transport: request.transport,
            framing: framing,
            listen: listen,
            upstream: request.upstream,
            enabled: request.enabled,
            seed: request.seed ?? self.options.seed ?? request.profile?.seed ?? UInt64.random(in: 0...UInt64(Int64.max)),
            index: ManagedProxy.index(of: request.name),
            profile: request.profile,
            capture: request.pcap ?? (self.options.pcapDirectory != nil)
        )
        entry.serial = self.made
        entry.rememberKinds()
        return entry
    }

    private func start(_ entry: inout ManagedProxy) async throws(ServeError) {
        guard entry.running == nil else { return }
        let listen: HostPort
        let upstream: HostPort
        do {
            listen = try HostPort(parsing: entry.listen, what: "listen")
            upstream = try HostPort(parsing: entry.upstream, what: "upstream")
        } catch {
            throw ServeError(400, "\(error)")
        }
        // Claimed only once it starts: a proxy that cannot listen leaves the number free.
        let log = self.options.logDirectory.map { self.unclaimed(directory: $0, name: entry.name, after: entry.starts, extension: "jsonl") }
        var pcap: String?
        if entry.capture { pcap = try self.nextCaptureFile(&entry) }
        var spec = ProxySpec(
            name: entry.name,
            transport: entry.transport,
            listen: listen,
            upstream: upstream,
            profile: entry.plan,
            seed: entry.seed,
            framing: entry.framing,
            connectTimeout: self.options.connectTimeout,
            index: entry.index,
            records: ProxyRecords.Paths(
                log: log?.path,
                pcap: pcap,
                pcapBuffer: self.options.pcapBuffer
            )
        )
        spec.tallies = true
        do {
            let running = try await self.launch(spec)
            entry.running = running
            entry.starts = log?.number ?? entry.starts + 1
            if let log { self.claimed.insert(log.path) }
            entry.listen = running.address.description
            entry.logPath = spec.records.log
            entry.planVersion = 1
        } catch {
            throw Self.mapped(error, listen: entry.listen)
        }
    }

    private func stop(_ entry: inout ManagedProxy) async {
        guard let running = entry.running else { return }
        entry.running = nil
        do {
            try await running.stop(grace: self.options.stopGrace)
        } catch {
            self.logger.error("proxy did not stop cleanly", metadata: ["proxy.name": "\(entry.name)", "error": "\(error)"])
        }
        if let counts = running.captureCounts { entry.lastCapture = counts }
    }

    // MARK: Checks

    private static func check(listen: String, upstream: String) throws(ServeError) {
        do {
            _ = try HostPort(parsing: listen, what: "listen")
            _ = try HostPort(parsing: upstream, what: "upstream")
        } catch {
            throw ServeError(400, "\(error)")
        }
    }

    private static func checkToxicFits(_ toxic: Toxic, _ entry: ManagedProxy) throws(ServeError) {
        try Self.checkToxicFits(toxic, proxy: entry.name, transport: entry.transport, profile: entry.profile, rules: entry.rules)
    }

    /// Whether `toxic` can join proxy `name`'s plan: a TCP proxy's, with no rule of its
    /// profile or of its own (`rules`) named like it. A clash answers Toxiproxy's 409
    /// `toxic already exists`, then says what holds the name (its clients list toxics
    /// only, so they cannot see it) and how to free it.
    static func checkToxicFits(
        _ toxic: Toxic, proxy name: String, transport: ProxySpec.Transport, profile: Profile?, rules: [Rule]
    ) throws(ServeError) {
        guard transport == .tcp else {
            throw ServeError(400, "toxics apply to TCP proxies only; proxy '\(name)' is UDP (put a profile with 'transport: udp' through /v1 instead)")
        }
        let proxy = ControlAPI.pathSegment(name)
        let rule = ControlAPI.pathSegment(toxic.name)
        let holder: String
        if rules.contains(where: { $0.name == toxic.name }) {
            holder = """
                a rule added through /v1 (not a toxic, so /proxies/\(proxy)/toxics does not list it) has that name on proxy \
                '\(name)': give the toxic another "name", or delete the rule with DELETE /v1/proxies/\(proxy)/rules/\(rule)
                """
        } else if let profile, profile.rules.contains(where: { $0.name == toxic.name }) {
            holder = """
                a rule of the profile '\(profile.name)' (put through /v1, not a toxic, so /proxies/\(proxy)/toxics does not list \
                it) has that name on proxy '\(name)': give the toxic another "name", or change the profile with PUT or \
                DELETE /v1/proxies/\(proxy)/profile
                """
        } else {
            return
        }
        // Toxiproxy's status and words first, so its clients read the clash as theirs.
        throw ServeError(409, "toxic already exists: \(holder)", native: .init(status: 409, message: "toxic '\(toxic.name)' cannot be added: \(holder)"))
    }

    /// Two listen addresses name the same place (`localhost:7070` and `127.0.0.1:7070`).
    private static func sameAddress(_ a: String, _ b: String) -> Bool {
        guard let x = try? HostPort(parsing: a, what: "listen"), let y = try? HostPort(parsing: b, what: "listen") else { return a == b }
        func canonical(_ host: String) -> String { host == "localhost" ? "127.0.0.1" : host }
        return canonical(x.host) == canonical(y.host) && (x.port == y.port || x.port == 0)
    }

    /// A proxy's name as its files' names begin: every byte of its UTF-8 outside
    /// `A-Z a-z 0-9 . _ -` written `%XX` (`x/y` → `x%2Fy`, `%` → `%25`), a leading `.`
    /// too. So two names never give one file name, and none is `.`, `..`, hidden, or
    /// holds a `/`. A name too long for a file name (over 200 bytes so written) keeps
    /// its first 180 and ends `~` and a hash of the whole name (`~` is never written
    /// otherwise); two such names hashing alike would still get distinct files, as
    /// every file is numbered on past those already given out.
    package static func fileName(_ name: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for (offset, byte) in name.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "-"):
                bytes.append(byte)
            case UInt8(ascii: ".") where offset > 0:
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        if bytes.count > 200 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in name.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            let digits = String(hash, radix: 16)
            bytes = Array(bytes.prefix(180)) + Array("~\(String(repeating: "0", count: 16 - digits.count))\(digits)".utf8)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An engine or host error as the API answers it.
    static func mapped(_ error: any Error, listen: String) -> ServeError {
        switch error {
        case let error as ServeError:
            return error
        case let error as RuntimeFailure where error.message.contains("address already in use"):
            return ServeError(
                500, "listen tcp \(listen): bind: address already in use",
                native: .init(status: 409, message: "listen \(listen): address already in use")
            )
        case let error as RuntimeFailure:
            return ServeError(500, error.message)
        case let error as ProfileError:
            return ServeError(400, error.description)
        case let error as InvalidInputError:
            return ServeError(400, error.message)
        default:
            return ServeError(500, "\(error)")
        }
    }
}
