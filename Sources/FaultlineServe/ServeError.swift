/// A control-API request that cannot be done: the HTTP status and a message that says
/// what is wrong and what would be accepted.
///
/// The Toxiproxy-compatible routes answer with Toxiproxy's own messages and statuses
/// (`proxy not found`, 404); the native `/v1` routes use `native` where the two differ
/// (a listen address in use is 500 for Toxiproxy's clients, 409 on `/v1`).
public struct ServeError: Error, CustomStringConvertible, Sendable, Equatable {
    public var status: Int
    public var message: String
    /// The status and message `/v1` answers with, when not the same.
    public var native: Native?

    public struct Native: Sendable, Equatable {
        public var status: Int
        public var message: String
    }

    public init(_ status: Int, _ message: String, native: Native? = nil) {
        self.status = status
        self.message = message
        self.native = native
    }

    public var description: String { self.message }

    public var nativeStatus: Int { self.native?.status ?? self.status }
    public var nativeMessage: String { self.native?.message ?? self.message }

    // Toxiproxy's errors, word for word (its api.go and toxic_collection.go).
    public static let proxyNotFound = ServeError(404, "proxy not found")
    public static let proxyExists = ServeError(409, "proxy already exists")
    public static let toxicNotFound = ServeError(404, "toxic not found")
    public static let toxicExists = ServeError(409, "toxic already exists")
    public static let invalidStream = ServeError(400, "stream was invalid, can be either upstream or downstream")
    public static let invalidToxicType = ServeError(400, "invalid toxic type")

    public static func badRequestBody(_ detail: String) -> ServeError {
        ServeError(400, "bad request body: \(detail)")
    }

    public static func missingField(_ field: String) -> ServeError {
        ServeError(400, "missing required field: \(field)")
    }
}
