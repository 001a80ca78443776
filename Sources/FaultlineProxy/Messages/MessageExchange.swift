import FaultlineCore
import FaultlineFraming
import NIOCore

/// Pairs one connection's replies with the requests they answer, and keeps replies
/// faultline sends in the server's place in their turn.
///
/// Request-reply protocols answer in order, so the *n*th reply answers the *n*th request
/// the server got. Requests are queued when they really go on to the server (a dropped
/// or answered request never is), and a reply is matched by the facts of the request it
/// answers (method, path, headers, command, attempt). An answer faultline writes itself
/// must not overtake replies still owed for earlier requests:
///
///     queue:   [GET /a ▸ server] [GET /b ▸ server] [503 for POST /c]
///     reply /a arrives  → forwarded
///     reply /b arrives  → forwarded, then the 503 goes out
///
/// Pairing stops for good when either direction falls back to raw, a RESP client enters
/// a mode where replies no longer answer commands one for one (SUBSCRIBE, MONITOR,
/// CLIENT REPLY OFF or SKIP), or
/// `maxOutstanding` requests wait for replies: replies then match on their own facts
/// only, and held answers go out.
/// Loop-bound: both channels of a connection share one event loop.
final class MessageExchange {
    struct PendingRequest {
        var unit: UInt64
        var facts: MessageFacts
        /// A sever to carry out when the first byte of this request's reply arrives.
        var severOnReply: FaultDecision?
        /// RESP `CLIENT REPLY OFF|SKIP`: the server stops answering one for one.
        var silencesReplies = false
    }

    private enum Entry {
        case request(PendingRequest)
        case injected(ByteBuffer)
    }

    /// Requests owed a reply beyond which pairing stops (as for the log's pairing).
    static let maxOutstanding = ExchangeTracker.maxOutstanding

    /// RESP commands after which replies stop answering commands one for one.
    static let unpairedCommands = ExchangeTracker.unpairedCommands

    let framing: FramingConfiguration.Kind
    private var entries = CircularBuffer<Entry>()
    private(set) var pairing = true

    init(framing: FramingConfiguration.Kind) {
        self.framing = framing
    }

    /// The request went on to the server. Returns held answers due now (when this
    /// request ends pairing).
    func requestForwarded(_ request: PendingRequest) -> [ByteBuffer] {
        guard self.pairing else { return [] }
        if self.framing == .resp, request.silencesReplies || request.facts.command.map(Self.unpairedCommands.contains) == true {
            return self.stopPairing()
        }
        if self.entries.count >= Self.maxOutstanding {
            return self.stopPairing()
        }
        self.entries.append(.request(request))
        return []
    }

    /// The request the next reply answers, if known.
    var awaited: PendingRequest? {
        guard self.pairing, case .request(let request)? = self.entries.first else { return nil }
        return request
    }

    /// Answers to write now or to queue behind owed replies: returns the bytes to
    /// write at once (nil when queued).
    func inject(_ bytes: ByteBuffer) -> ByteBuffer? {
        guard self.pairing, !self.entries.isEmpty else { return bytes }
        self.entries.append(.injected(bytes))
        return nil
    }

    /// A reply finished; `final` is false for replies that do not answer a request
    /// (an HTTP 1xx, a RESP push). Returns the held answers now due, in order.
    func replyFinished(final: Bool) -> [ByteBuffer] {
        guard self.pairing, final else { return [] }
        if case .request? = self.entries.first { self.entries.removeFirst() }
        var due: [ByteBuffer] = []
        while case .injected(let bytes)? = self.entries.first {
            self.entries.removeFirst()
            due.append(bytes)
        }
        return due
    }

    /// Stops pairing for the rest of the connection; returns the held answers, which
    /// go out at once.
    func stopPairing() -> [ByteBuffer] {
        self.pairing = false
        let due = self.entries.compactMap { entry -> ByteBuffer? in
            if case .injected(let bytes) = entry { return bytes }
            return nil
        }
        self.entries.removeAll()
        return due
    }

    /// Whether `message` (a reply) answers a request, or is an interim or pushed one.
    func isFinalReply(_ message: FramedMessage) -> Bool {
        ExchangeTracker.isFinalReply(message.info, bytes: message.bytes, framing: self.framing)
    }
}

@available(*, unavailable)
extension MessageExchange: Sendable {}
