/// One control-API request, as the routes see it: independent of the HTTP server, so the
/// routes can be exercised without sockets too.
package struct APIRequest: Sendable {
    package var method: String
    /// The path, percent-encoded as sent, without the query.
    package var path: String
    package var query: [String: String]
    /// Header values by lowercased name.
    package var headers: [String: String]
    package var body: [UInt8]

    package init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    package var bodyText: String { String(decoding: self.body, as: UTF8.self) }
}

/// One control-API answer.
package struct APIResponse: Sendable {
    package enum Body: Sendable {
        case bytes([UInt8])
        /// An event log followed: `backlog` first, then each line written after
        /// `offset` (of `type`, when given), until the client goes away or the server
        /// stops. `current` says which log the proxy writes now (a restarted proxy
        /// writes a new one, read from its start once the old one is read to its end),
        /// or nil once the proxy is gone, which ends the answer.
        case follow(path: String, offset: Int, backlog: [UInt8], type: String?, current: @Sendable () async -> String?)
    }

    package var status: Int
    package var headers: [(String, String)]
    package var body: Body

    package init(status: Int, headers: [(String, String)] = [], body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    package var bodyText: String {
        if case .bytes(let bytes) = self.body { return String(decoding: bytes, as: UTF8.self) }
        return ""
    }

    /// A JSON answer (`application/json`).
    static func json(_ status: Int, _ value: JSONValue, newline: Bool = false) -> APIResponse {
        APIResponse(status: status, headers: [("Content-Type", "application/json")], body: .bytes(Array((value.text + (newline ? "\n" : "")).utf8)))
    }

    /// Toxiproxy's error: `{"error":"…","status":N}` and a newline, sent the way Go's
    /// `http.Error` sends it (text/plain, nosniff), which its clients expect.
    static func toxiproxyError(_ error: ServeError) -> APIResponse {
        let body = JSONValue.object([("error", .string(error.message)), ("status", .integer(Int64(error.status)))])
        return APIResponse(
            status: error.status,
            headers: [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")],
            body: .bytes(Array((body.text + "\n").utf8))
        )
    }

    /// The native error: `{"error":{"message":"…"}}` (Hummingbird's shape).
    static func nativeError(_ error: ServeError) -> APIResponse {
        let body = JSONValue.object([("error", .object([("message", .string(error.nativeMessage))]))])
        return APIResponse(status: error.nativeStatus, headers: [("Content-Type", "application/json")], body: .bytes(Array((body.text + "\n").utf8)))
    }

    static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8", nosniff: Bool = false) -> APIResponse {
        var headers = [("Content-Type", contentType)]
        if nosniff { headers.append(("X-Content-Type-Options", "nosniff")) }
        return APIResponse(status: status, headers: headers, body: .bytes(Array(text.utf8)))
    }

    static func noContent() -> APIResponse {
        APIResponse(status: 204)
    }
}
