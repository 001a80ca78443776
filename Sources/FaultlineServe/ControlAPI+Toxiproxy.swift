import FaultlineCore

/// Toxiproxy's API, as its server answers (docs/toxiproxy.md): the same paths, fields,
/// statuses and error bodies, so its clients work unchanged.
extension ControlAPI {
    func toxiproxy(_ request: APIRequest, _ path: [String]) async -> APIResponse {
        do throws(ServeError) {
            switch (request.method, path.count, path.first) {
            case ("GET", 1, "proxies"):
                return .json(200, .object(await self.store.all.map { ($0.name, $0.toxiproxyJSON) }))
            case ("POST", 1, "proxies"):
                let proxy = try await self.store.create(try Self.proxyRequest(Self.object(Self.parse(request), what: "a proxy")))
                return .json(201, proxy.toxiproxyJSON)
            case (_, 1, "proxies"):
                return Self.methodNotAllowed
            case ("POST", 1, "populate"):
                return await self.populate(request)
            case (_, 1, "populate"):
                return Self.methodNotAllowed
            case ("POST", 1, "reset"):
                try await self.store.reset(everything: false)
                return .noContent()
            case (_, 1, "reset"):
                return Self.methodNotAllowed
            case ("GET", 1, "version"):
                // Byte for byte what Toxiproxy sends, space and newline included.
                return .text(200, "{\"version\": \"\(ServeVersion.toxiproxy)\"}\n", contentType: "application/json;charset=utf-8")
            case (_, 1, "version"):
                return Self.methodNotAllowed
            case ("GET", 1, "metrics"):
                guard let metrics = self.metrics else { return Self.notFound }
                await metrics.refresh(from: self.store)
                return .text(200, metrics.text(), contentType: "text/plain; version=0.0.4; charset=utf-8")
            case (_, 1, "metrics"):
                return Self.methodNotAllowed
            case (_, 2..., "proxies"):
                return try await self.proxyRoutes(request, path, native: false)
            default:
                return Self.notFound
            }
        } catch {
            return .toxiproxyError(error)
        }
    }

    /// `/proxies/{p}` and below, for both APIs (`native` picks the error shape and
    /// accepts the native fields).
    func proxyRoutes(_ request: APIRequest, _ path: [String], native: Bool) async throws(ServeError) -> APIResponse {
        let name = path[1]
        switch (request.method, path.count) {
        case ("GET", 2):
            let proxy = try await self.store.proxy(name)
            return .json(200, native ? self.nativeJSON(proxy) : proxy.toxiproxyJSON)
        case ("POST", 2) where !native, ("PATCH", 2):
            _ = try await self.store.proxy(name)
            let body = try Self.object(Self.parse(request), what: "a proxy")
            // Toxiproxy ignores fields it does not know, and so do its routes here.
            if native { try Self.rejectUnknownFields(body, known: Self.patchFields, what: "a proxy change", text: request.body) }
            let proxy = try await self.store.update(
                name,
                listen: try Self.string(body, "listen", what: "proxy").flatMap { $0.isEmpty ? nil : $0 },
                upstream: try Self.string(body, "upstream", what: "proxy").flatMap { $0.isEmpty ? nil : $0 },
                enabled: try Self.bool(body, "enabled", what: "proxy")
            )
            return .json(200, native ? self.nativeJSON(proxy) : proxy.toxiproxyJSON)
        case ("DELETE", 2):
            try await self.store.delete(name)
            return .noContent()
        case (_, 2):
            return Self.methodNotAllowed
        case ("GET", 3) where path[2] == "toxics":
            let proxy = try await self.store.proxy(name)
            return .json(200, .array(proxy.listedToxics.map(\.json)))
        case ("POST", 3) where path[2] == "toxics":
            _ = try await self.store.proxy(name)
            let toxic = try await self.store.addToxic(try Self.toxic(from: Self.parse(request), proxy: self.store.proxy(name)), to: name)
            return .json(200, toxic.json)
        case (_, 3) where path[2] == "toxics":
            return Self.methodNotAllowed
        case ("GET", 4) where path[2] == "toxics":
            return .json(200, try await self.store.toxic(path[3], of: name).json)
        case ("POST", 4) where path[2] == "toxics" && !native, ("PATCH", 4) where path[2] == "toxics":
            let current = try await self.store.toxic(path[3], of: name)
            let (attributes, toxicity) = try Self.toxicUpdate(Self.parse(request), current: current)
            let toxic = try await self.store.updateToxic(path[3], of: name, attributes: attributes, toxicity: toxicity)
            return .json(200, toxic.json)
        case ("DELETE", 4) where path[2] == "toxics":
            try await self.store.removeToxic(path[3], of: name)
            return .noContent()
        case (_, 4) where path[2] == "toxics":
            return Self.methodNotAllowed
        default:
            guard native else { return Self.notFound }
            return try await self.nativeProxyRoutes(request, path)
        }
    }

    private func populate(_ request: APIRequest) async -> APIResponse {
        let requests: [ProxyRequest]
        do throws(ServeError) {
            let body = try Self.parse(request)
            guard case .array(let items) = body else {
                throw .badRequestBody("expected a JSON array of proxies, got \(body.typeName)")
            }
            // Every entry is checked before anything is created.
            var checked: [ProxyRequest] = []
            for (index, item) in items.enumerated() {
                do throws(ServeError) {
                    checked.append(try Self.proxyRequest(Self.object(item, what: "a proxy")))
                } catch where error.message.hasPrefix("missing required field") {
                    throw ServeError(error.status, "\(error.message) at proxy \(index + 1)")
                }
            }
            requests = checked
        } catch {
            return .toxiproxyError(error)
        }
        let (done, error) = await self.store.populate(requests)
        let proxies: JSONValue = requests.isEmpty ? .null : .array(done.map(\.toxiproxyJSON))
        guard let error else {
            return .json(201, .object([("proxies", proxies)]))
        }
        var response = APIResponse.json(
            error.status,
            .object([("error", .string(error.message)), ("status", .integer(Int64(error.status))), ("proxies", .array(done.map(\.toxiproxyJSON)))]),
            newline: true
        )
        response.headers.append(("X-Content-Type-Options", "nosniff"))
        return response
    }

    // MARK: Reading Toxiproxy's bodies

    /// A proxy as `POST /proxies` and `/populate` take it: `name` and `upstream`
    /// required, `listen` optional, `enabled` true unless false. `toxics` and any field
    /// it does not know are ignored, as Toxiproxy ignores them (`/v1` refuses them).
    static func proxyRequest(_ body: JSONValue) throws(ServeError) -> ProxyRequest {
        let name = try Self.string(body, "name", what: "proxy") ?? ""
        let upstream = try Self.string(body, "upstream", what: "proxy") ?? ""
        let listen = try Self.string(body, "listen", what: "proxy")
        let enabled = try Self.bool(body, "enabled", what: "proxy") ?? true
        guard !name.isEmpty else { throw .missingField("name") }
        // Clients normalise `/proxies/..` away before sending, so no route could reach it.
        guard name != ".", name != ".." else {
            throw ServeError(400, "bad request body: a proxy cannot be named '\(name)': no URL path reaches it")
        }
        guard !upstream.isEmpty else { throw .missingField("upstream") }
        return ProxyRequest(name: name, listen: listen, upstream: upstream, enabled: enabled)
    }

    /// A new toxic, checked in Toxiproxy's order: the body, the stream, the type, a name
    /// already taken, then the attributes.
    static func toxic(from body: JSONValue, proxy: ManagedProxy) throws(ServeError) -> Toxic {
        try Self.toxic(from: body, taken: Set(proxy.toxics.map(\.name)))
    }

    /// A new toxic for a proxy whose toxics have the names in `taken`.
    static func toxic(from body: JSONValue, taken: Set<String>) throws(ServeError) -> Toxic {
        let body = try Self.object(body, what: "a toxic")
        let streamText = try Self.string(body, "stream", what: "toxic") ?? "downstream"
        let typeText = try Self.string(body, "type", what: "toxic") ?? ""
        let givenName = try Self.string(body, "name", what: "toxic").flatMap { $0.isEmpty ? nil : $0 }
        let toxicity = try Self.toxicity(in: body) ?? 1
        guard let stream = ToxicStream(parsing: streamText) else { throw .invalidStream }
        guard let type = ToxicType(rawValue: typeText) else { throw .invalidToxicType }
        let name = givenName ?? "\(type.rawValue)_\(stream.rawValue)"
        guard !taken.contains(name) else { throw .toxicExists }
        let attributes = try Self.attributes(body["attributes"], of: type)
        return Toxic(name: name, type: type, stream: stream, toxicity: toxicity, attributes: attributes)
    }

    /// A toxic update: only `attributes` (merged) and `toxicity` change.
    static func toxicUpdate(_ body: JSONValue, current: Toxic) throws(ServeError) -> ([String: Int64], Float?) {
        let body = try Self.object(body, what: "a toxic")
        let toxicity = try Self.toxicity(in: body)
        return (try Self.attributes(body["attributes"], of: current.type, merging: true), toxicity)
    }

    /// A toxic's `toxicity`, nil when absent. A probability: outside 0...1 is refused
    /// (Toxiproxy takes any number and treats those above 1 as 1, below 0 as 0).
    static func toxicity(in body: JSONValue) throws(ServeError) -> Float? {
        guard let value = body["toxicity"], value != .null else { return nil }
        guard let number = value.doubleValue else { throw .badRequestBody("toxic.toxicity: expected a number, got \(value.typeName)") }
        guard number >= 0, number <= 1 else {
            throw .badRequestBody("toxic.toxicity: a probability from 0 to 1, got \(value.text)")
        }
        return Float(number)
    }

    /// Integer attributes; unknown keys are ignored, missing ones read 0 (or keep their
    /// value, when merging), a fraction or a string is refused, and so is a time above
    /// 7 days (`ToxicType.maximum(of:)`).
    static func attributes(_ value: JSONValue?, of type: ToxicType, merging: Bool = false) throws(ServeError) -> [String: Int64] {
        guard let value, value != .null else { return [:] }
        guard let members = value.objectMembers else {
            throw .badRequestBody("toxic.attributes: expected an object, got \(value.typeName)")
        }
        var attributes: [String: Int64] = [:]
        for (key, item) in members where type.attributes.contains(key) {
            switch item {
            case .integer(let number):
                if let maximum = type.maximum(of: key), number > maximum.value {
                    throw .badRequestBody("toxic.attributes.\(key): \(type.rawValue) takes at most \(maximum.words), got \(number)")
                }
                attributes[key] = number
            case .null: continue
            default:
                throw .badRequestBody("toxic.attributes.\(key): \(type.rawValue) takes whole numbers, got \(item.text)")
            }
        }
        return attributes
    }
}
