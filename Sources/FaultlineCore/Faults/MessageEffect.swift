/// What the message stage of a framed connection does for one decision: the effects
/// only whole messages can carry (a byte stream has no "request" to drop or answer).
///
/// Values, not behaviour: `FaultEffect.message` carries one, and the proxy's message
/// stage carries it out. Chunk decisions never see these.
package enum MessageEffect: Sendable, Equatable {
    /// Discard the message: a request that never reaches the server, or a reply that
    /// never reaches the client.
    case drop
    /// Forward the request, and send `copies` more copies, each on a new upstream
    /// connection, `gap` after the original; each copy's reply is recorded, not sent on.
    case duplicate(copies: Int, gap: Duration)
    /// Hold the request back until `after` later requests went on, or for `maxHold`,
    /// whichever comes first.
    case reorder(after: Int, maxHold: Duration)
    /// Answer the request in the server's place; the request is not forwarded.
    case respond(InjectedReply)
    /// Cut the connection at a point of the message (or of its reply).
    case sever(SeverMode, at: SeverPoint)

    /// The event log's `action` word.
    package var action: String {
        switch self {
        case .drop: "drop"
        case .duplicate: "duplicate"
        case .reorder: "reorder"
        case .respond: "respond"
        case .sever(let mode, _): mode.rawValue
        }
    }

    /// True for effects that only make sense on a request (client to server).
    package var requestsOnly: Bool {
        switch self {
        case .duplicate, .reorder, .respond: true
        case .sever(_, let point): point == .firstReplyByte
        case .drop: false
        }
    }
}

/// Where in a message a message-level `sever` cuts.
///
///     before            ✂ GET /a HTTP/1.1 …          nothing of it goes on
///     mid_message       GET /a HT ✂ TP/1.1 …          the first half goes on
///     after             GET /a HTTP/1.1 … ✂           all of it goes on
///     first_reply_byte  GET /a … ─▶ server ─▶ H ✂     the request goes on; cut when
///                                                    its reply starts to come back
package enum SeverPoint: String, Sendable, CaseIterable, Equatable {
    case before
    case midMessage = "mid_message"
    case after
    case firstReplyByte = "first_reply_byte"
}

/// A reply faultline sends in the server's place (`respond`), as a profile writes it.
/// The proxy turns it into bytes for the connection's framing: an HTTP response from
/// `status`, `headers` and `body`; a RESP error from `error`; for line and length
/// framing, `body` as one message.
package struct InjectedReply: Sendable, Equatable {
    package var status: Int?
    package var headers: [MessageInfo.Header]
    package var body: String?
    package var error: String?

    package init(status: Int? = nil, headers: [MessageInfo.Header] = [], body: String? = nil, error: String? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.error = error
    }

    /// Why this reply cannot be written on a connection framed as `framing`, or nil
    /// when it can.
    package func problem(for framing: Profile.Framing) -> String? {
        switch framing {
        case .http:
            return self.status == nil ? "an HTTP reply needs 'status' (and optionally headers and body)" : nil
        case .resp:
            return self.error == nil ? "a RESP reply needs 'error' (sent as '-ERROR TEXT\\r\\n')" : nil
        case .line, .length:
            return self.body == nil ? "with \(framing.rawValue) framing the reply is 'body', sent as one message" : nil
        case .raw:
            return "raw framing has no messages to answer"
        }
    }
}
