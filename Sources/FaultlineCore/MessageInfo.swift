/// What a framer learned about one message: the facts profiles match on and the event
/// log records.
///
/// It lives in FaultlineCore, not FaultlineFraming, so fault matching (method, path glob,
/// header, RESP command) stays free of NIO. Every field is read from the message's bytes,
/// which are never changed to learn it.
///
/// A message's info is copied at every stage it passes (framer, exchange, the unit
/// handed along the pipeline, the queue that pairs replies), so what the framer parsed
/// sits in one shared, copy-on-write box: a copy costs one reference count, not one per
/// string and array. What is stamped on each message afterwards (fingerprint, attempt,
/// pairing) is stored inline, so stamping never copies the box.
package struct MessageInfo: Sendable, Equatable {
    /// Which side of an exchange a message is. For `line` and `length` framing, which
    /// know no protocol, client-to-server messages count as requests.
    package enum Role: String, Sendable {
        case request
        case response
    }

    /// One HTTP header field as it appeared (name case kept, value without surrounding
    /// whitespace; bytes that are not UTF-8 are shown as U+FFFD here, never on the wire).
    package struct Header: Sendable, Equatable {
        package var name: String
        package var value: String

        package init(name: String, value: String) {
            self.name = name
            self.value = value
        }

        /// Whether this field is named `name`, compared without regard to ASCII case
        /// (field names are ASCII tokens), and without building lowercased copies.
        package func isNamed(_ name: String) -> Bool {
            let ours = self.name.utf8
            let theirs = name.utf8
            guard ours.count == theirs.count else { return false }
            // Through contiguous storage where the strings have it (native and small
            // strings do): iterating two `UTF8View`s side by side is several times slower.
            let compared = ours.withContiguousStorageIfAvailable { lhs in
                theirs.withContiguousStorageIfAvailable { rhs in
                    zip(lhs, rhs).allSatisfy(Self.sameIgnoringASCIICase)
                }
            }
            return (compared ?? nil) ?? zip(ours, theirs).allSatisfy(Self.sameIgnoringASCIICase)
        }

        /// Whether two bytes of field names are the same letter in either case, or equal.
        package static func sameIgnoringASCIICase(_ a: UInt8, _ b: UInt8) -> Bool {
            a == b || (a | 0x20 == b | 0x20 && (a | 0x20) >= UInt8(ascii: "a") && (a | 0x20) <= UInt8(ascii: "z"))
        }
    }

    /// What the framer parsed. Shared between copies; replaced, never changed, while
    /// another copy holds it (`parsedForWriting`).
    private final class Parsed: @unchecked Sendable, Equatable {
        var role: Role
        var method: String?
        var path: String?
        var status: Int?
        /// As given (`headers`), or as a framer read them (kept as bytes until asked).
        var fields: Fields
        var idempotencyKey: String?
        var command: String?
        var silencesReplies = false

        init(
            role: Role, method: String?, path: String?, status: Int?, fields: Fields, idempotencyKey: String?,
            command: String?
        ) {
            self.role = role
            self.method = method
            self.path = path
            self.status = status
            self.fields = fields
            self.idempotencyKey = idempotencyKey
            self.command = command
        }

        func copy() -> Parsed {
            let copy = Parsed(
                role: self.role, method: self.method, path: self.path, status: self.status, fields: self.fields,
                idempotencyKey: self.idempotencyKey, command: self.command
            )
            copy.silencesReplies = self.silencesReplies
            return copy
        }

        static func == (lhs: Parsed, rhs: Parsed) -> Bool {
            lhs === rhs
                || (lhs.role == rhs.role && lhs.method == rhs.method && lhs.path == rhs.path && lhs.status == rhs.status
                    && lhs.fields.headers == rhs.fields.headers && lhs.idempotencyKey == rhs.idempotencyKey
                    && lhs.command == rhs.command && lhs.silencesReplies == rhs.silencesReplies)
        }
    }

    private enum Fields {
        case list([Header])
        case lines(FieldLines)

        var headers: [Header] {
            switch self {
            case .list(let headers): headers
            case .lines(let lines): lines.headers
            }
        }
    }

    private var parsed: Parsed

    /// The box, unshared first if another copy holds it.
    private var parsedForWriting: Parsed {
        mutating get {
            if !isKnownUniquelyReferenced(&self.parsed) { self.parsed = self.parsed.copy() }
            return self.parsed
        }
    }

    package var role: Role {
        get { self.parsed.role }
        set { self.parsedForWriting.role = newValue }
    }
    /// HTTP request method; on a response, the method of the request it answers.
    package var method: String? {
        get { self.parsed.method }
        set { self.parsedForWriting.method = newValue }
    }
    /// HTTP request target as sent (path and query); on a response, the request's.
    package var path: String? {
        get { self.parsed.path }
        set { self.parsedForWriting.path = newValue }
    }
    /// HTTP response status.
    package var status: Int? {
        get { self.parsed.status }
        set { self.parsedForWriting.status = newValue }
    }
    /// HTTP header fields in order (trailers not included); empty for other protocols.
    package var headers: [Header] {
        get { self.parsed.fields.headers }
        set { self.parsedForWriting.fields = .list(newValue) }
    }
    /// The `Idempotency-Key` header; on a response, the key of the request it answers.
    package var idempotencyKey: String? {
        get { self.parsed.idempotencyKey }
        set { self.parsedForWriting.idempotencyKey = newValue }
    }
    /// RESP command name, uppercased (`SET`, `INCR`), for commands sent to the server.
    package var command: String? {
        get { self.parsed.command }
        set { self.parsedForWriting.command = newValue }
    }
    /// RESP `CLIENT REPLY OFF` or `CLIENT REPLY SKIP`: from here the server leaves
    /// commands unanswered, so replies no longer pair with commands one for one.
    package var silencesReplies: Bool {
        get { self.parsed.silencesReplies }
        set { self.parsedForWriting.silencesReplies = newValue }
    }
    /// A stable digest of the request (hex): equal for retries of the same request, so
    /// attempts can be grouped. On an HTTP response, the fingerprint of its request.
    package var fingerprint: String?
    /// On a request: its attempt within its logical request, from 0 (`AttemptLedger`).
    /// On a reply: the attempt of the request it answers. Nil until the connection's
    /// framing session stamps it, and when pairing has stopped.
    package var attempt: UInt64?
    /// On a reply: the unit of the request it answers.
    package var requestUnit: UInt64?
    /// When the first byte of the request arrived (monotonic ns): on a request, its own;
    /// on a reply, that of the request it answers.
    package var requestMono: UInt64?

    package init(
        role: Role,
        method: String? = nil,
        path: String? = nil,
        status: Int? = nil,
        headers: [Header] = [],
        idempotencyKey: String? = nil,
        command: String? = nil,
        fingerprint: String? = nil
    ) {
        self.parsed = Parsed(
            role: role, method: method, path: path, status: status, fields: .list(headers), idempotencyKey: idempotencyKey,
            command: command
        )
        self.fingerprint = fingerprint
    }

    /// An HTTP message as a framer read it: its field lines kept as bytes, made into
    /// strings only when asked for.
    package init(
        role: Role, method: String?, path: String?, status: Int? = nil, fieldLines: FieldLines, idempotencyKey: String?
    ) {
        self.parsed = Parsed(
            role: role, method: method, path: path, status: status, fields: .lines(fieldLines), idempotencyKey: idempotencyKey,
            command: nil
        )
    }

    /// The value of the first header named `name`, compared without regard to case.
    package func header(_ name: String) -> String? {
        switch self.parsed.fields {
        case .list(let headers): headers.first { $0.isNamed(name) }?.value
        case .lines(let lines): lines.first(named: name)
        }
    }
}
