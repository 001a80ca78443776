/// A control-API request that cannot be done: the HTTP status and a message that says
/// what is wrong and what would be accepted.
///
/// The Toxiproxy-compatible routes answer with Toxiproxy's own messages and statuses
/// (`proxy not found`, 404); the native `/v1` routes use `native` where the two differ
/// (a listen address in use is 500 for Toxiproxy's clients, 409 on `/v1`).
package struct ServeError: Error, CustomStringConvertible, Sendable, Equatable {
    package var status: Int
    package var message: String
    /// The status and message `/v1` answers with, when not the same.
    package var native: Native?

    package struct Native: Sendable, Equatable {
        package var status: Int
        package var message: String
    }

    package init(_ status: Int, _ message: String, native: Native? = nil) {
        self.status = status
        self.message = message
        self.native = native
    }

    package var description: String { self.message }

    package var nativeStatus: Int { self.native?.status ?? self.status }
    package var nativeMessage: String { self.native?.message ?? self.message }

    // Toxiproxy's errors, word for word (its api.go and toxic_collection.go).
    /// Toxiproxy's words on its routes; `/v1` names the proxy.
    package static func proxyNotFound(_ name: String) -> ServeError {
        ServeError(404, "proxy not found", native: Native(status: 404, message: "proxy '\(name)' not found"))
    }
    package static let proxyExists = ServeError(409, "proxy already exists")
    package static let toxicNotFound = ServeError(404, "toxic not found")
    package static let toxicExists = ServeError(409, "toxic already exists")
    package static let invalidStream = ServeError(400, "stream was invalid, can be either upstream or downstream")
    package static let invalidToxicType = ServeError(400, "invalid toxic type")

    package static func badRequestBody(_ detail: String) -> ServeError {
        ServeError(400, "bad request body: \(detail)")
    }

    package static func missingField(_ field: String) -> ServeError {
        ServeError(400, "missing required field: \(field)")
    }
}
