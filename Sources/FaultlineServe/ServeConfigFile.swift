import FaultlineCore
import Foundation

/// `faultline serve --config FILE`: the proxies to create at start, a JSON array in
/// `/populate`'s form. Unlike Toxiproxy's `-config` (which ignores them), an entry's
/// `toxics` are added too, and a bad file stops the server from starting.
///
/// The whole file is checked before any proxy starts: a mistake in the last entry's
/// toxic leaves nothing listening. A mistake is said as a file's reader looks for it:
/// `--config FILE:LINE:COLUMN: proxy 2 'api': toxic 1 'latency_downstream': …`, the
/// position being where that entry (or toxic) starts.
package enum ServeConfigFile {
    package static func load(_ path: String, into api: ControlAPI) async throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InvalidInputError("--config \(path): cannot read the file")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(data)
        } catch {
            if let line = error.line, let column = error.column, let reason = error.reason {
                throw InvalidInputError("--config \(path):\(line):\(column): invalid JSON: \(reason)")
            }
            throw InvalidInputError("--config \(path): \(error.message)")
        }
        guard case .array(let items) = value else {
            throw InvalidInputError("--config \(path): expected a JSON array of proxies (as /populate takes), got \(value.typeName)")
        }
        /// `--config FILE:LINE:COLUMN` of the value at `steps`, or without the position.
        func place(_ steps: [JSONValue.PathStep]) -> String {
            guard let (line, column) = JSONValue.position(of: steps, in: data) else { return "--config \(path)" }
            return "--config \(path):\(line):\(column)"
        }
        var requests: [ProxyRequest] = []
        var toxics: [[Toxic]] = []
        for (index, item) in items.enumerated() {
            var what = "proxy \(index + 1)"
            if let name = item["name"]?.stringValue { what += " '\(name)'" }
            let request: ProxyRequest
            do throws(ServeError) {
                let entry = try ControlAPI.object(item, what: "a proxy")
                // No line and column of the key: the first `"key":` in the whole file may
                // be another entry's (a toxic's "type"); the entry's own position is given.
                try ControlAPI.rejectUnknownFields(entry, known: ControlAPI.proxyFields + ["toxics"], what: "a proxy", text: nil)
                request = try api.nativeProxyRequest(entry)
            } catch {
                throw InvalidInputError("\(place([.index(index)])): \(what): \(Self.inFileWords(error))")
            }
            // /populate replaces a proxy of the same name; in one file, a second entry of a
            // name would silently replace the first, which is a mistake.
            if let first = requests.firstIndex(where: { $0.name == request.name }) {
                throw InvalidInputError(
                    "\(place([.index(index)])): \(what): a second proxy named '\(request.name)' (the first is at \(place([.index(first)]).dropFirst("--config ".count)))"
                )
            }
            requests.append(request)
            toxics.append(try Self.toxics(of: item, request, where: { place([.index(index), .key("toxics")] + $0) }, what: what))
        }
        let (done, failure) = await api.store.populate(requests)
        if let failure {
            // Populate stops at the first entry it cannot start: the one after those done.
            let index = done.count
            let name = requests.indices.contains(index) ? " '\(requests[index].name)'" : ""
            let message = "\(place([.index(index)])): proxy \(index + 1)\(name): \(failure.nativeMessage)"
            if failure.status >= 500 { throw RuntimeFailure(message) }
            throw InvalidInputError(message)
        }
        for (index, request) in requests.enumerated() {
            for toxic in toxics[index] {
                do throws(ServeError) {
                    _ = try await api.store.addToxic(toxic, to: request.name)
                } catch {
                    throw InvalidInputError("--config \(path): proxy \(index + 1) '\(request.name)': toxic '\(toxic.name)': \(Self.inFileWords(error))")
                }
            }
        }
    }

    /// An entry's `toxics`, each checked as `POST /proxies/{p}/toxics` checks it against
    /// the proxy the entry makes (its transport, its profile's rule names, the toxics
    /// before it), before anything starts.
    private static func toxics(
        of item: JSONValue, _ request: ProxyRequest, where place: ([JSONValue.PathStep]) -> String, what: String
    ) throws -> [Toxic] {
        guard let list = item["toxics"], list != .null else { return [] }
        guard case .array(let values) = list else {
            throw InvalidInputError("\(place([])): \(what): \"toxics\": expected an array of toxics, got \(list.typeName)")
        }
        var toxics: [Toxic] = []
        for (index, value) in values.enumerated() {
            var which = "toxic \(index + 1)"
            if let name = value["name"]?.stringValue, !name.isEmpty { which += " '\(name)'" }
            do throws(ServeError) {
                let toxic = try ControlAPI.toxic(from: value, taken: Set(toxics.map(\.name)))
                try ProxyStore.checkToxicFits(toxic, proxy: request.name, transport: request.transport, profile: request.profile, rules: [])
                toxics.append(toxic)
            } catch {
                var words = Self.inFileWords(error)
                if error == .invalidToxicType {
                    let given = value["type"]?.stringValue.map { "'\($0)'" } ?? "none"
                    words = "\"type\" must be one of \(ToxicType.allCases.map(\.rawValue).joined(separator: ", ")); got \(given)"
                } else if error == .toxicExists {
                    let name = (try? ControlAPI.toxic(from: value, taken: []))?.name ?? "?"
                    words = "an earlier toxic of this proxy is named '\(name)' too (a toxic's name is TYPE_STREAM unless it gives a \"name\"): give one of them another \"name\""
                }
                throw InvalidInputError("\(place([.index(index)])): \(what): \(which): \(words)")
            }
        }
        return toxics
    }

    /// An API refusal in words for a file: without the API's `bad request body: ` and
    /// the `proxy.` or `toxic.` before a field (the entry is named already).
    static func inFileWords(_ error: ServeError) -> String {
        var message = Substring(error.nativeMessage)
        if message.hasPrefix("bad request body: ") { message = message.dropFirst("bad request body: ".count) }
        for prefix in ["proxy.", "toxic."] where message.hasPrefix(prefix) {
            message = message.dropFirst(prefix.count)
        }
        return String(message)
    }
}
