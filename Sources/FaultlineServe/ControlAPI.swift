import FaultlineCore
import Foundation
import Logging

/// The control API's routes, on one port: Toxiproxy's (`/proxies`, `/populate`,
/// `/reset`, `/version`), the native `/v1/...`, and `/metrics`.
///
/// Before any route: a browser's request (`User-Agent: Mozilla/...`) is refused as
/// Toxiproxy refuses it (a page could otherwise drive the API); with a token, a request
/// without `Authorization: Bearer TOKEN` gets 401 (compared in constant time).
package struct ControlAPI: Sendable {
    package let store: ProxyStore
    package let metrics: ServeMetrics?
    let token: String?
    let loader: ProfileLoader
    let logger: Logger
    /// What `/v1/version` reports as faultline's own version.
    let version: String

    package init(store: ProxyStore, metrics: ServeMetrics?, token: String?, loader: ProfileLoader, version: String, logger: Logger) {
        self.store = store
        self.metrics = metrics
        self.token = token
        self.loader = loader
        self.version = version
        self.logger = logger
    }

    /// Answers one request. Never throws: every failure is an answer.
    package func respond(to request: APIRequest) async -> APIResponse {
        var response = await self.route(request)
        response.headers.append(("X-Toxiproxy-Request-Id", Self.requestID()))
        self.metrics?.requestServed(api: Self.api(of: request.path), status: response.status)
        if response.status >= 500 {
            self.logger.error("request failed", metadata: ["http.method": "\(request.method)", "http.path": "\(request.path)", "http.status": "\(response.status)"])
        } else {
            self.logger.debug("request", metadata: ["http.method": "\(request.method)", "http.path": "\(request.path)", "http.status": "\(response.status)"])
        }
        return response
    }

    private func route(_ request: APIRequest) async -> APIResponse {
        if let agent = request.headers["user-agent"], agent.hasPrefix("Mozilla/") {
            return .text(403, "User agent not allowed\n", nosniff: true)
        }
        if let token = self.token {
            let given = request.headers["authorization"].flatMap { header -> String? in
                let parts = header.split(separator: " ", maxSplits: 1)
                guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
                return String(parts[1]).trimmingCharacters(in: .whitespaces)
            }
            guard let given, Self.constantTimeEqual(given, token) else {
                var response = APIResponse.json(401, .object([("error", .object([("message", "a bearer token is required: send Authorization: Bearer TOKEN")]))]), newline: true)
                response.headers.append(("WWW-Authenticate", "Bearer"))
                return response
            }
        }
        guard let segments = Self.segments(request.path) else {
            // Toxiproxy's API answers a path it cannot read as any unknown one; /v1 says why.
            guard request.path == "/v1" || request.path.hasPrefix("/v1/") else { return Self.notFound }
            return APIResponse.nativeError(ServeError(400, "the path \(request.path) is not valid percent-encoding (a % must be followed by two hex digits)"))
        }
        if segments.first == "v1" {
            return await self.native(request, Array(segments.dropFirst()))
        }
        return await self.toxiproxy(request, segments)
    }

    // MARK: Shared

    static let notFound = APIResponse.text(404, "404 page not found\n", nosniff: true)

    /// gorilla/mux's answer to a known path with the wrong method: 405, no body.
    static let methodNotAllowed = APIResponse(status: 405)

    /// Path segments, percent-decoded; nil for a path that cannot be decoded.
    static func segments(_ path: String) -> [String]? {
        guard path.hasPrefix("/") else { return nil }
        var parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts == [""] { parts = [] }
        var decoded: [String] = []
        for part in parts {
            guard let text = part.removingPercentEncoding else { return nil }
            decoded.append(text)
        }
        return decoded
    }

    /// Compares without stopping at the first difference, so the time taken says
    /// nothing about how much of a guess was right.
    static func constantTimeEqual(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8)
        let b = Array(expected.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<b.count {
            difference |= (index < a.count ? a[index] : 0) ^ b[index]
        }
        return difference == 0
    }

    /// A 20-character id, as Toxiproxy's xid ids look.
    static func requestID() -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuv")
        return String((0..<20).map { _ in alphabet[Int.random(in: 0..<32)] })
    }

    /// A name as one segment of a path an answer suggests (`x/y` → `x%2Fy`), so the
    /// path can be sent as written.
    static func pathSegment(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: Self.segmentCharacters) ?? name
    }

    private static let segmentCharacters = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))

    static func api(of path: String) -> String {
        if path.hasPrefix("/v1/") || path == "/v1" { return "native" }
        if path == "/metrics" { return "metrics" }
        return "toxiproxy"
    }

    /// Parses a body as JSON, with Go's wording for an empty one.
    static func parse(_ request: APIRequest) throws(ServeError) -> JSONValue {
        if request.body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw .badRequestBody("EOF")
        }
        do {
            return try JSONValue.parse(Data(request.body))
        } catch {
            throw .badRequestBody(error.message)
        }
    }

    static func string(_ object: JSONValue, _ key: String, what: String) throws(ServeError) -> String? {
        guard let value = object[key], value != .null else { return nil }
        guard let text = value.stringValue else {
            throw .badRequestBody("\(what).\(key): expected a string, got \(value.typeName)")
        }
        return text
    }

    static func bool(_ object: JSONValue, _ key: String, what: String) throws(ServeError) -> Bool? {
        guard let value = object[key], value != .null else { return nil }
        guard let flag = value.boolValue else {
            throw .badRequestBody("\(what).\(key): expected true or false, got \(value.typeName)")
        }
        return flag
    }

    /// Refuses the members of `object` that are not in `known`, which would otherwise be
    /// ignored without a word (a mistyped `framming` gives a raw proxy): names each one,
    /// where it is in `text` (the body it was read from, when given), the known field it
    /// was probably meant to be, and the fields `what` takes.
    static func rejectUnknownFields(_ object: JSONValue, known: [String], what: String, text: [UInt8]?) throws(ServeError) {
        let unknown = (object.objectMembers ?? []).map(\.0).filter { !known.contains($0) }
        guard !unknown.isEmpty else { return }
        let located = unknown.map { name in (name: name, at: text.flatMap { Self.position(ofKey: name, in: $0) }) }
            .sorted { ($0.at?.offset ?? Int.max, $0.name) < ($1.at?.offset ?? Int.max, $1.name) }
        let described = located.map { field in
            var text = "'\(field.name)'"
            if let at = field.at { text += " at line \(at.line), column \(at.column)" }
            if let near = Self.closest(to: field.name, in: known) { text += " (did you mean '\(near)'?)" }
            return text
        }
        let noun = unknown.count == 1 ? "unknown field" : "unknown fields"
        throw .badRequestBody("\(noun) \(described.joined(separator: ", ")); \(what) takes \(known.joined(separator: ", "))")
    }

    /// Where `"key":` first appears in a JSON text: the opening quote's offset, line and
    /// column (from 1). Only an object member is followed by a colon, so a string value
    /// spelled the same is not taken for it; a key written with escapes is not found.
    static func position(ofKey key: String, in text: [UInt8]) -> (offset: Int, line: Int, column: Int)? {
        let needle = Array("\"\(key)\"".utf8)
        guard text.count >= needle.count else { return nil }
        var index = 0
        while index + needle.count <= text.count {
            if text[index] == 0x22, Array(text[index..<(index + needle.count)]) == needle, index == 0 || text[index - 1] != 0x5C {
                var after = index + needle.count
                while after < text.count, [0x20, 0x09, 0x0A, 0x0D].contains(text[after]) { after += 1 }
                if after < text.count, text[after] == 0x3A {
                    let (line, column) = JSONValue.lineAndColumn(of: index, in: Data(text))
                    return (index, line, column)
                }
            }
            index += 1
        }
        return nil
    }

    /// The known name a mistyped one was most likely meant to be: at most two edits
    /// away (a letter added, lost, changed or two swapped), else nil.
    static func closest(to name: String, in known: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            if a.isEmpty { return b.count }
            if b.isEmpty { return a.count }
            var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
            for i in 0...a.count { d[i][0] = i }
            for j in 0...b.count { d[0][j] = j }
            for i in 1...a.count {
                for j in 1...b.count {
                    let cost = a[i - 1] == b[j - 1] ? 0 : 1
                    d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                    if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
                }
            }
            return d[a.count][b.count]
        }
        let lowered = Array(name.lowercased())
        let scored = known.map { ($0, distance(lowered, Array($0))) }.filter { $0.1 <= 2 }
        return scored.min { ($0.1, $0.0) < ($1.1, $1.0) }?.0
    }

    static func object(_ value: JSONValue, what: String) throws(ServeError) -> JSONValue {
        guard case .object = value else {
            throw .badRequestBody("expected \(what) as a JSON object, got \(value.typeName)")
        }
        return value
    }
}
