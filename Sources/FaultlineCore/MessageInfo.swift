/// What a framer learned about one message: the facts profiles match on and the event
/// log records.
///
/// It lives in FaultlineCore, not FaultlineFraming, so fault matching (method, path glob,
/// header, RESP command) stays free of NIO. Every field is read from the message's bytes,
/// which are never changed to learn it.
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
    }

    package var role: Role
    /// HTTP request method; on a response, the method of the request it answers.
    package var method: String?
    /// HTTP request target as sent (path and query); on a response, the request's.
    package var path: String?
    /// HTTP response status.
    package var status: Int?
    /// HTTP header fields in order (trailers not included); empty for other protocols.
    package var headers: [Header]
    /// The `Idempotency-Key` header; on a response, the key of the request it answers.
    package var idempotencyKey: String?
    /// RESP command name, uppercased (`SET`, `INCR`), for commands sent to the server.
    package var command: String?
    /// RESP `CLIENT REPLY OFF` or `CLIENT REPLY SKIP`: from here the server leaves
    /// commands unanswered, so replies no longer pair with commands one for one.
    package var silencesReplies = false
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
        self.role = role
        self.method = method
        self.path = path
        self.status = status
        self.headers = headers
        self.idempotencyKey = idempotencyKey
        self.command = command
        self.fingerprint = fingerprint
    }

    /// The value of the first header named `name`, compared without regard to case.
    package func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return self.headers.first { $0.name.lowercased() == wanted }?.value
    }
}
