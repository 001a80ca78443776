import FaultlineCore
import FaultlineFraming
import FaultlineHost
import Foundation

/// The native API under `/v1` (docs/api.md, docs/openapi.yaml): everything Toxiproxy's
/// does, plus profiles, single rules, UDP proxies, framing, seeds and events. Errors are
/// `{"error":{"message":"…"}}`.
extension ControlAPI {
    func native(_ request: APIRequest, _ path: [String]) async -> APIResponse {
        do throws(ServeError) {
            switch (request.method, path.count, path.first) {
            case ("GET", 1, "version"):
                return .json(200, .object([("faultline", .string(self.version)), ("toxiproxy_api", .string(ServeVersion.toxiproxy))]))
            case ("GET", 1, "proxies"):
                return .json(200, .object([("proxies", .array(await self.store.all.map(self.nativeJSON)))]))
            case ("POST", 1, "proxies"):
                let body = try Self.object(Self.parse(request), what: "a proxy")
                try Self.rejectUnknownFields(body, known: Self.proxyFields, what: "a proxy", text: request.body)
                let proxy = try await self.store.create(try self.nativeProxyRequest(body))
                return .json(201, self.nativeJSON(proxy))
            case ("POST", 1, "reset"):
                try await self.store.reset(everything: true)
                return .noContent()
            case ("GET", 1, "profiles"):
                let entries = self.loader.catalog().map { entry in
                    JSONValue.object([("name", .string(entry.name)), ("origin", .string(entry.origin))])
                }
                return .json(200, .object([("profiles", .array(entries))]))
            case ("GET", 2, "profiles"):
                guard let entry = self.loader.catalog().first(where: { $0.name == path[1] }) else {
                    throw ServeError(404, "profile not found: '\(path[1])' is neither shipped nor in FAULTLINE_PROFILE_PATH")
                }
                return .text(200, entry.text, contentType: "application/yaml; charset=utf-8")
            case (_, 1, "version"), (_, 1, "proxies"), (_, 1, "reset"), (_, 1, "profiles"), (_, 2, "profiles"):
                throw ServeError(405, "\(request.method) is not allowed on \(request.path)")
            case (_, 2..., "proxies"):
                let response = try await self.proxyRoutes(request, path, native: true)
                if response.status == 405 { throw ServeError(405, "\(request.method) is not allowed on \(request.path)") }
                if response.status == 404, case .bytes = response.body, response.headers.contains(where: { $0.1.hasPrefix("text/plain") }) {
                    throw ServeError(404, "no route \(request.method) \(request.path)")
                }
                return response
            default:
                throw ServeError(404, "no route \(request.method) \(request.path)")
            }
        } catch {
            return .nativeError(error)
        }
    }

    /// `/v1/proxies/{p}/profile`, `/rules`, `/rules/{r}`, `/events`, `/pcap`.
    func nativeProxyRoutes(_ request: APIRequest, _ path: [String]) async throws(ServeError) -> APIResponse {
        let name = path[1]
        switch (request.method, path.count, path[2]) {
        case ("GET", 3, "profile"):
            let proxy = try await self.store.proxy(name)
            return .json(200, Self.profileJSON(proxy))
        case ("PUT", 3, "profile"):
            let proxy = try await self.store.proxy(name)
            let profile = try self.profile(from: request, for: proxy)
            return .json(200, self.nativeJSON(try await self.store.setProfile(profile, on: name)))
        case ("DELETE", 3, "profile"):
            return .json(200, self.nativeJSON(try await self.store.setProfile(nil, on: name)))
        case ("GET", 3, "rules"):
            let proxy = try await self.store.proxy(name)
            return .json(200, .object([("rules", .array(Self.rulesJSON(proxy)))]))
        case ("POST", 3, "rules"):
            let proxy = try await self.store.proxy(name)
            let rule = try self.rule(from: request, for: proxy)
            let updated = try await self.store.addRule(rule, to: name)
            return .json(201, Self.ruleJSON(rule, source: "rule", proxy: updated))
        case ("GET", 4, "rules"):
            let proxy = try await self.store.proxy(name)
            guard let rule = Self.rulesJSON(proxy).first(where: { $0["name"] == .string(path[3]) }) else {
                throw ServeError(404, "rule not found: proxy '\(name)' has no rule '\(path[3])'")
            }
            return .json(200, rule)
        case ("DELETE", 4, "rules"):
            _ = try await self.store.removeRule(path[3], from: name)
            return .noContent()
        case ("GET", 3, "events"):
            return try await self.events(request, proxy: self.store.proxy(name))
        case ("GET", 3, "pcap"):
            return .json(200, try await self.store.proxy(name).captureJSON)
        case ("POST", 3, "pcap"):
            return .json(201, try await self.store.startCapture(name).captureJSON)
        case ("DELETE", 3, "pcap"):
            return .json(200, try await self.store.stopCapture(name).captureJSON)
        case (_, 3, "profile"), (_, 3, "rules"), (_, 4, "rules"), (_, 3, "events"), (_, 3, "pcap"):
            throw ServeError(405, "\(request.method) is not allowed on \(request.path)")
        default:
            throw ServeError(404, "no route \(request.method) \(request.path)")
        }
    }

    // MARK: Bodies

    /// What `POST /v1/proxies` (and an entry of `--config`) takes; anything else is
    /// refused, naming it, rather than ignored.
    static let proxyFields = ["name", "upstream", "listen", "enabled", "transport", "framing", "record_payloads", "seed", "profile", "profile_text", "pcap"]

    /// What `PATCH /v1/proxies/{p}` takes: the fields it changes, and those of the proxy
    /// as it answers (so a proxy read, edited and sent back is taken), which it ignores.
    static let patchFields = [
        "listen", "upstream", "enabled", "name", "transport", "seed", "framing", "record_payloads", "open", "plan_version", "profile", "rules", "toxics",
        "log", "pcap",
    ]

    func nativeProxyRequest(_ body: JSONValue) throws(ServeError) -> ProxyRequest {
        var request = try Self.proxyRequest(body)
        if let transport = try Self.string(body, "transport", what: "proxy") {
            guard let value = ProxySpec.Transport(rawValue: transport) else {
                throw .badRequestBody("proxy.transport: tcp or udp, got '\(transport)'")
            }
            request.transport = value
        }
        if let framing = try Self.string(body, "framing", what: "proxy") {
            guard request.transport == .tcp || framing == "raw" else {
                throw ServeError(400, "framing applies to TCP only; a UDP proxy frames each datagram as one message")
            }
            do {
                let prefix = framing == "length" ? try LengthPrefix() : nil
                request.framing = FramingConfiguration(kind: try FramingConfiguration.Kind(name: framing, lengthPrefix: prefix))
            } catch {
                throw ServeError(400, "proxy.framing: \(error.description)")
            }
        }
        // What `check idempotency` replays: each framed message's bytes in the log.
        request.recordPayloads = try Self.bool(body, "record_payloads", what: "proxy") ?? false
        if let seed = body["seed"], seed != .null {
            switch seed {
            case .integer(let value) where value >= 0: request.seed = UInt64(value)
            case .string(let text) where UInt64(text) != nil: request.seed = UInt64(text)
            default: throw .badRequestBody("proxy.seed: a whole number from 0 to \(UInt64.max), got \(seed.text)")
            }
        }
        request.pcap = try Self.bool(body, "pcap", what: "proxy")
        let profileName = try Self.string(body, "profile", what: "proxy")
        let profileText = try Self.string(body, "profile_text", what: "proxy")
        if profileName != nil || profileText != nil {
            let profile = try self.loadProfile(name: profileName, text: profileText)
            try Self.check(profile, transport: request.transport, framing: request.framing)
            request.profile = profile
        }
        return request
    }

    /// A profile from a PUT: JSON `{"name": "slow-reply"}` or `{"text": "…"}`, or the
    /// profile's own YAML or JSON text as the body.
    func profile(from request: APIRequest, for proxy: ManagedProxy) throws(ServeError) -> Profile {
        let profile: Profile
        if Self.isJSON(request) || Self.isProfileReference(request) {
            let body = try Self.object(Self.parse(request), what: "a profile reference")
            let name = try Self.string(body, "name", what: "profile")
            let text = try Self.string(body, "text", what: "profile")
            if name == nil, text == nil, body["faultline"] != nil {
                // The profile itself, written as JSON.
                profile = try self.loadProfile(name: nil, text: request.bodyText)
            } else {
                guard name != nil || text != nil else {
                    throw .badRequestBody("send {\"name\": \"NAME\"} (a shipped profile), {\"text\": \"…\"} (a profile's YAML or JSON), or the profile itself")
                }
                try Self.rejectUnknownFields(body, known: ["name", "text"], what: "a profile reference", text: request.body)
                profile = try self.loadProfile(name: name, text: text)
            }
        } else {
            profile = try self.loadProfile(name: nil, text: request.bodyText)
        }
        try Self.check(profile, transport: proxy.transport, framing: proxy.framing)
        return profile
    }

    /// One rule, in profile syntax (`{name, match, probability, per, fault, window}`),
    /// as JSON or YAML. It is loaded as the one item of a profile's `rules`, and what
    /// loading finds wrong is said at its line and column in the body (`rule:LINE:COL`).
    func rule(from request: APIRequest, for proxy: ManagedProxy) throws(ServeError) -> Rule {
        if Self.isJSON(request) {
            // JSON is YAML: checked as JSON first for JSON's own error messages, then
            // loaded as written, so positions are the body's.
            _ = try Self.object(Self.parse(request), what: "a rule")
        }
        var text = "faultline: 1\nname: rule\ndescription: one rule added through the control API\n"
        if proxy.transport == .udp { text += "transport: udp\n" }
        text += "rules:\n  -\n"
        let bodyLine = text.split(separator: "\n", omittingEmptySubsequences: false).count
        text += request.bodyText.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n") + "\n"
        let profile: Profile
        do {
            profile = try self.loader.load(text: text, file: "rule")
        } catch let error as ProfileError {
            throw ServeError(400, Self.inBody(error, firstLine: bodyLine, indent: 4).description)
        } catch {
            throw ServeError(400, "\(error)")
        }
        guard profile.rules.count == 1, let rule = profile.rules.first else {
            throw ServeError(400, "send one rule")
        }
        try Self.check(profile, transport: proxy.transport, framing: proxy.framing, body: (bodyLine, 4))
        return rule
    }

    /// `error` with its positions moved from the profile a body was wrapped in to the
    /// body itself, which starts at line `firstLine`, each of its lines indented by
    /// `indent` columns. A position in the wrapping (no user wrote it) loses its line.
    static func inBody(_ error: ProfileError, firstLine: Int, indent: Int) -> ProfileError {
        ProfileError(
            error.issues.map { issue in
                var location = issue.location
                if let line = location.line {
                    if line >= firstLine {
                        location.line = line - firstLine + 1
                        location.column = location.column.map { max(1, $0 - indent) }
                    } else {
                        (location.line, location.column) = (nil, nil)
                    }
                }
                return ProfileIssue(location, issue.message)
            }
        )
    }

    private func loadProfile(name: String?, text: String?) throws(ServeError) -> Profile {
        do {
            if let text {
                return try self.loader.load(text: text, file: "profile")
            }
            let name = name ?? ""
            // Only names the server knows: a request never makes the server read a path.
            guard self.loader.catalog().contains(where: { $0.name == name }) else {
                throw ServeError(
                    404,
                    "profile not found: '\(name)' is neither shipped nor in FAULTLINE_PROFILE_PATH (send its text instead; the server reads no path a request names)"
                )
            }
            return try self.loader.load(name)
        } catch let error as ServeError {
            throw error
        } catch let error as ProfileError {
            throw ServeError(400, error.description)
        } catch {
            throw ServeError(400, "\(error)")
        }
    }

    /// What the engine would refuse, said before anything changes (a disabled proxy
    /// has no engine to ask). `body`: where a rule's body starts in the profile it was
    /// wrapped in, so positions are the body's (`inBody`).
    private static func check(
        _ profile: Profile, transport: ProxySpec.Transport, framing: FramingConfiguration?, body: (firstLine: Int, indent: Int)? = nil
    ) throws(ServeError) {
        do {
            try profile.require(transport == .udp ? .udp : .tcp)
            if transport == .tcp {
                let name = framing?.kind.name ?? profile.framing?.rawValue ?? "raw"
                if let framing = Profile.Framing(rawValue: name) {
                    try profile.checkMessageRules(
                        framing: framing,
                        howToFrame: "create the proxy with \"framing\" http, resp, line or length (POST /v1/proxies): a proxy's framing is set when it is made",
                        framingSetting: "framing"
                    )
                }
            }
        } catch {
            guard let body else { throw ServeError(400, error.description) }
            throw ServeError(400, Self.inBody(error, firstLine: body.firstLine, indent: body.indent).description)
        }
    }

    /// A body `{"name": …}` or `{"text": …}` whatever its Content-Type says (`curl -d`
    /// sends its default, form-encoded): it cannot be a profile's own text, which needs
    /// `faultline`, so it is read as the reference it is.
    private static func isProfileReference(_ request: APIRequest) -> Bool {
        guard let body = try? JSONValue.parse(Data(request.body)), case .object = body else { return false }
        return body["faultline"] == nil && (body["name"] != nil || body["text"] != nil)
    }

    private static func isJSON(_ request: APIRequest) -> Bool {
        let type = request.headers["content-type"]?.lowercased() ?? "application/json"
        return type.contains("json")
    }

    // MARK: Events

    /// The proxy's event log: the last `limit` events (default 100) as JSON Lines, of
    /// one `type` when asked; with `follow=true`, then every new one as it is written,
    /// across the proxy's restarts, until it is deleted.
    private func events(_ request: APIRequest, proxy: ManagedProxy) async throws(ServeError) -> APIResponse {
        guard let path = proxy.logPath else {
            throw ServeError(409, "proxy '\(proxy.name)' keeps no event log: start the server with --log DIR")
        }
        var limit = 100
        if let text = request.query["limit"] {
            guard let value = Int(text), value >= 0, value <= 100_000 else {
                throw ServeError(400, "limit: a whole number from 0 to 100000, got '\(text)'")
            }
            limit = value
        }
        let type = request.query["type"]
        if let type, Event.Kind(rawValue: type) == nil {
            throw ServeError(400, "type: no event type '\(type)'; the types are \(Self.eventTypes.joined(separator: ", ")) (faultline-events(5))")
        }
        var follow = false
        if let text = request.query["follow"] {
            switch text.lowercased() {
            case "1", "true", "yes": follow = true
            case "", "0", "false", "no": follow = false
            default: throw ServeError(400, "follow: true or false, got '\(text)'")
            }
        }
        let (lines, end) = EventTail.last(limit, of: path, type: type)
        let text = lines.map { $0 + "\n" }.joined()
        if follow {
            return APIResponse(
                status: 200,
                headers: [("Content-Type", "application/x-ndjson")],
                body: .follow(path: path, offset: end, backlog: Array(text.utf8), type: type) { [store = self.store, name = proxy.name, serial = proxy.serial] in
                    await store.eventLog(of: name, serial: serial)
                }
            )
        }
        return APIResponse(status: 200, headers: [("Content-Type", "application/x-ndjson")], body: .bytes(Array(text.utf8)))
    }

    /// The event types a log holds, as `?type=` takes them (each an `Event.Kind`).
    static let eventTypes = Event.Kind.allCases.map(\.rawValue)

    // MARK: Answers

    func nativeJSON(_ proxy: ManagedProxy) -> JSONValue {
        .object([
            ("name", .string(proxy.name)),
            ("transport", .string(proxy.transport.rawValue)),
            ("listen", .string(proxy.listen)),
            ("upstream", .string(proxy.upstream)),
            ("enabled", .bool(proxy.enabled)),
            ("seed", .string(String(proxy.seed))),
            ("framing", .string(proxy.framing.kind.name)),
            ("record_payloads", .bool(proxy.framing.recordPayloads)),
            ("open", .integer(Int64(proxy.running?.open ?? 0))),
            ("plan_version", .integer(Int64(proxy.planVersion))),
            ("profile", Self.profileJSON(proxy)["profile"] ?? .null),
            ("rules", .array(Self.rulesJSON(proxy))),
            ("toxics", .array(proxy.listedToxics.map(\.json))),
            ("log", proxy.logPath.map(JSONValue.string) ?? .null),
            ("pcap", proxy.running?.captureCounts.map { JSONValue.string($0.file) } ?? .null),
        ])
    }

    static func profileJSON(_ proxy: ManagedProxy) -> JSONValue {
        guard let profile = proxy.profile else { return .object([("profile", .null)]) }
        return .object([
            (
                "profile",
                .object([
                    ("name", .string(profile.name)),
                    ("description", .string(profile.description)),
                    ("source", .string(profile.source)),
                    ("hash", .string(profile.hash)),
                    ("rules", .array(profile.rules.map { Self.ruleJSON($0, source: "profile", proxy: proxy) })),
                ])
            )
        ])
    }

    static func rulesJSON(_ proxy: ManagedProxy) -> [JSONValue] {
        (proxy.profile?.rules ?? []).map { Self.ruleJSON($0, source: "profile", proxy: proxy) }
            + proxy.rules.map { Self.ruleJSON($0, source: "rule", proxy: proxy) }
            + proxy.listedToxics.flatMap { toxic in ToxicMapping.rules(for: toxic).map { Self.ruleJSON($0, source: "toxic", proxy: proxy) } }
    }

    static func ruleJSON(_ rule: Rule, source: String, proxy: ManagedProxy) -> JSONValue {
        .object([
            ("name", .string(rule.name)),
            ("kind", .string(rule.kind)),
            ("direction", .string(rule.match.direction.rawValue)),
            ("probability", .number(rule.probability)),
            ("per", .string(rule.per.rawValue)),
            ("params", .object(rule.fault.params.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("source", .string(source)),
        ])
    }
}
