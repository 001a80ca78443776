import Foundation

/// How the checker names and classifies a request: the operation a report groups by,
/// and whether retrying it without a key is safe.
package enum RequestOperation {
    /// Whether an operation may be retried without an idempotency key.
    enum Safety: Equatable {
        case idempotent
        case nonIdempotent
        /// Tagged `money` in `--rules`: like non-idempotent, and CR-01 is CRIT.
        case money

        var isIdempotent: Bool { self == .idempotent }
    }

    /// The operation name: HTTP `METHOD /path` with numeric and UUID segments folded to
    /// `{id}` and the query dropped; RESP the command; line and length framing the first
    /// word of the message when its payload was recorded, else `message`; UDP `datagram`.
    static func name(framing: String?, method: String?, path: String?, command: String?, payload: String?) -> String {
        if let method {
            return "\(method.uppercased()) \(Self.fold(path ?? "/"))"
        }
        if let command {
            return command.uppercased()
        }
        if framing == "datagram" {
            return "datagram"
        }
        if framing == "line" || framing == "length", let payload, let data = Data(base64Encoded: payload) {
            let bytes = data.prefix(64)
            let word = bytes.prefix { $0 > 0x20 && $0 < 0x7F }
            if !word.isEmpty, let text = String(data: Data(word), encoding: .ascii) { return text }
        }
        return "message"
    }

    /// `/charges/123/refunds/9f1c…?x=1` → `/charges/{id}/refunds/{id}`: the route both
    /// checks name HTTP operations by (replay too). An absolute-form target
    /// (`http://host/a`) keeps only its path.
    package static func fold(_ target: String) -> String {
        var path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? target
        if let scheme = path.range(of: "://") {
            let rest = path[scheme.upperBound...]
            path = rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? "/"
        }
        let folded = path.split(separator: "/", omittingEmptySubsequences: false)
            .map { Self.looksLikeID($0) ? "{id}" : String($0) }
            .joined(separator: "/")
        return folded.isEmpty ? "/" : folded
    }

    static func looksLikeID(_ segment: Substring) -> Bool {
        guard !segment.isEmpty else { return false }
        if segment.allSatisfy(\.isNumber) { return true }
        let hex = segment.filter { $0 != "-" }
        if segment.count == 36, hex.count == 32, hex.allSatisfy(\.isHexDigit) { return true }
        return segment.count >= 16 && segment.allSatisfy(\.isHexDigit)
    }

    /// HTTP methods RFC 9110 §9.2.2 calls idempotent.
    static let idempotentMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]

    /// RESP commands whose repetition changes nothing more (the rest of the known
    /// commands are not idempotent; unknown commands count as not idempotent).
    /// MULTI, EXEC and DISCARD only mark a transaction: the commands queued inside it
    /// are judged as themselves (a retried transaction re-sends each of them).
    static let idempotentCommands: Set<String> = [
        "GET", "SET", "MGET", "MSET", "DEL", "UNLINK", "EXISTS", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST",
        "TTL", "PTTL", "TYPE", "KEYS", "SCAN", "HSET", "HMSET", "HGET", "HMGET", "HGETALL", "HDEL", "HEXISTS", "HKEYS",
        "HVALS", "HLEN", "SADD", "SREM", "SMEMBERS", "SISMEMBER", "SCARD", "ZADD", "ZREM", "ZRANGE", "ZSCORE", "ZCARD",
        "ZRANK", "LRANGE", "LLEN", "LINDEX", "LSET", "STRLEN", "GETRANGE", "SETRANGE", "PING", "ECHO", "INFO", "DBSIZE",
        "SELECT", "AUTH", "HELLO", "CLIENT", "COMMAND", "CONFIG", "TIME", "SETNX", "MSETNX", "GETEX", "EVALSHA_RO", "EVAL_RO",
        "PFCOUNT", "GEOPOS", "GEODIST", "BITCOUNT", "GETBIT", "SETBIT", "WATCH", "UNWATCH", "QUIT", "RESET", "SUBSCRIBE",
        "UNSUBSCRIBE", "PSUBSCRIBE", "PUNSUBSCRIBE", "XRANGE", "XREVRANGE", "XLEN", "XREAD", "SINTER", "SUNION", "SDIFF",
        "COPY", "RENAME", "PFADD", "MULTI", "EXEC", "DISCARD",
    ]

    /// RESP commands a client sends on each new connection or idle check (handshake,
    /// health check), which the retry check leaves out: not the client's operations.
    static let connectionCommands: Set<String> = ["HELLO", "AUTH", "SELECT", "PING", "CLIENT", "QUIT", "RESET", "READONLY", "READWRITE"]

    /// Classifies an operation: a `--rules` tag first, then the protocol's semantics.
    /// Line and length framing carry no semantics faultline can read: every message
    /// counts as not idempotent unless tagged (the report says so).
    static func safety(
        operation: String,
        framing: String?,
        method: String?,
        command: String?,
        settings: RuleSettings
    ) -> Safety {
        switch settings.tag(of: operation) {
        case .idempotent?: return .idempotent
        case .nonIdempotent?: return .nonIdempotent
        case .money?: return .money
        case nil: break
        }
        if let method {
            return Self.idempotentMethods.contains(method.uppercased()) ? .idempotent : .nonIdempotent
        }
        if let command {
            return Self.idempotentCommands.contains(command.uppercased()) ? .idempotent : .nonIdempotent
        }
        // UDP request/response protocols (DNS, NTP, most game and metrics protocols) are
        // queries a client may repeat: untagged datagrams count as idempotent, so a
        // retried query is never called unsafe; tag them `non_idempotent` otherwise.
        if framing == "datagram" { return .idempotent }
        return .nonIdempotent
    }

    /// The value of header `name` in an HTTP request's bytes (base64 `payload`), or nil.
    static func header(_ name: String, inPayload payload: String) -> String? {
        guard let data = Data(base64Encoded: payload) else { return nil }
        // The head ends at the first empty line; headers are ASCII (RFC 9110 §5.5).
        let head = data.prefix(65_536)
        guard let text = String(data: head, encoding: .isoLatin1) else { return nil }
        let end = text.range(of: "\r\n\r\n")?.lowerBound ?? text.endIndex
        let lines = text[..<end].components(separatedBy: "\r\n").dropFirst()
        let wanted = name.lowercased()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].trimmingCharacters(in: .whitespaces).lowercased() == wanted {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// The host part of `HOST:PORT` (IPv6 in brackets), or the text as is.
    static func host(of address: String) -> String {
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<close])
        }
        if let colon = address.lastIndex(of: ":"), address.firstIndex(of: ":") == colon {
            return String(address[..<colon])
        }
        return address
    }
}
