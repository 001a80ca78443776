import FaultlineCore
import Foundation

/// `faultline serve --config FILE`: the proxies to create at start, a JSON array in
/// `/populate`'s form. Unlike Toxiproxy's `-config` (which ignores them), an entry's
/// `toxics` are added too, and a bad file stops the server from starting.
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
        var requests: [ProxyRequest] = []
        for (index, item) in items.enumerated() {
            do throws(ServeError) {
                let entry = try ControlAPI.object(item, what: "a proxy")
                // No line and column: the first `"key":` in the whole file may be another
                // entry's (a toxic's "type"); the entry's number says where.
                try ControlAPI.rejectUnknownFields(entry, known: ControlAPI.proxyFields + ["toxics"], what: "a proxy", text: nil)
                requests.append(try api.nativeProxyRequest(entry))
            } catch {
                throw InvalidInputError("--config \(path): proxy \(index + 1): \(error.message)")
            }
        }
        let (_, failure) = await api.store.populate(requests)
        if let failure {
            if failure.status >= 500 { throw RuntimeFailure("--config \(path): \(failure.message)") }
            throw InvalidInputError("--config \(path): \(failure.message)")
        }
        for (index, item) in items.enumerated() {
            guard case .array(let toxics)? = item["toxics"] else { continue }
            let name = requests[index].name
            for toxicValue in toxics {
                do throws(ServeError) {
                    let toxic = try ControlAPI.toxic(from: toxicValue, proxy: await api.store.proxy(name))
                    _ = try await api.store.addToxic(toxic, to: name)
                } catch {
                    throw InvalidInputError("--config \(path): proxy '\(name)': toxic: \(error.message)")
                }
            }
        }
    }
}
