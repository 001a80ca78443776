import FaultlineCore
import NIOCore

/// One framed connection's requests and replies, kept once for everything that pairs
/// them: the HTTP response framer (a reply's length depends on its request's method), the
/// event log (each reply names the request it answers; `conn_close` names the one the
/// client was left waiting for) and the message stages (replies are matched by their
/// request's facts, and answers faultline writes in the server's place wait their turn).
///
/// Request-reply protocols answer in order, so the *n*th final reply answers the *n*th
/// request the server got. A request is queued when it really goes on to the server (the
/// framing handlers report it, after any stage that drops, answers or holds it), and
/// each final reply takes the head of the queue. An answer faultline writes itself must
/// not overtake replies still owed for earlier requests, so it queues behind them:
///
///     queue:   [u0 GET /a] [u1 GET /b] [503 for u2]
///     reply framed  → answers u0 (request_unit 0)
///     reply framed  → answers u1; the 503 is due and goes out after that reply
///
/// Pairing stops for good (replies then carry no `request_unit`, stages match replies on
/// their own facts, held answers go out) when either direction falls back to raw, a RESP
/// client enters a mode where replies no longer answer commands one for one (SUBSCRIBE,
/// MONITOR, CLIENT REPLY OFF or SKIP), or `maxOutstanding` requests wait. HTTP framing
/// still needs each request's method after that, so an HTTP queue keeps its requests
/// while its response direction is framed. Both channels of a connection run on its one
/// event loop, so no lock is needed.
package final class Exchange {
    /// Requests owed a reply beyond which pairing stops: a protocol whose server does not
    /// answer every message (fire-and-forget lines) must not grow the queue for ever.
    /// One less than a power of two: the ring buffer keeps a slot free, so 4,095 fit in
    /// 4,096 slots where 4,096 would double its storage (about 0.8 MB a connection).
    package static let maxOutstanding = 4095

    /// RESP commands after which replies stop answering commands one for one.
    package static let unpairedCommands: Set<String> = ["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR"]

    /// A request the server got whose final reply has not been framed yet.
    package struct Request {
        package var unit: UInt64
        /// Its facts as framed, with its `attempt` and `requestMono`.
        package var info: MessageInfo
        /// Boxed: rare, and as large as the rest of the entry (a connection may have
        /// thousands of requests waiting).
        private var sever: Sever?

        package init(unit: UInt64, info: MessageInfo) {
            self.unit = unit
            self.info = info
        }

        /// A sever to carry out when the first byte of its reply arrives.
        package var severOnReply: FaultDecision? {
            get { self.sever?.decision }
            set { self.sever = newValue.map(Sever.init) }
        }
    }

    private final class Sever {
        let decision: FaultDecision
        init(_ decision: FaultDecision) { self.decision = decision }
    }

    private enum Entry {
        case request(Request)
        case answer(ByteBuffer)
    }

    package let framing: FramingConfiguration.Kind
    private let attempts: AttemptLedger?
    private let client: String?
    /// Requests and held answers, in the order the client is owed them. Never starts with
    /// an answer: answers reaching the head move to `due`.
    private var entries = CircularBuffer<Entry>()
    private var owed = 0
    private var due: [ByteBuffer] = []
    package private(set) var pairing = true
    /// The request the last final reply answered (nil: none was queued).
    package private(set) var lastAnswered: Request?

    /// Why the request direction carries raw bytes now (HTTP): replies after the queued
    /// requests' can no longer be framed.
    package var requestSideRaw: String?
    /// The response direction is raw: nothing needs queueing any more.
    package var responseSideRaw = false

    /// Bytes of whole replies passed on towards the client, and where each ended.
    private var downstreamBytes = 0
    private var replyEnds = CircularBuffer<(request: UInt64, end: Int)>()
    private var lastForwarded: UInt64?
    private var lastDelivered: UInt64?
    /// Bytes the client socket has taken so far; set by the proxy (its write ledger).
    package var deliveredToClient: (() -> Int)?

    /// - Parameters:
    ///   - attempts: the proxy's ledger; nil numbers no attempts.
    ///   - client: the client's host (no port), which scopes fingerprint grouping.
    package init(framing: FramingConfiguration.Kind, attempts: AttemptLedger? = nil, client: String? = nil) {
        self.framing = framing
        self.attempts = attempts
        self.client = client
    }

    // MARK: Framing

    /// Stamps a request's attempt, or a final reply's request, into `info` as the framer
    /// emits it. `firstMono` is when the message's first byte arrived.
    func framed(_ info: inout MessageInfo, firstMono: UInt64, now: UInt64, bytes: ByteBuffer) {
        switch info.role {
        case .request:
            info.attempt = self.attempts?.attempt(of: info, client: self.client, at: .nanoseconds(Int64(clamping: now)))
            info.requestMono = firstMono
        case .response:
            guard Self.isFinalReply(info, bytes: bytes, framing: self.framing) else { return }
            // The HTTP framer took the request already: it needed it to read the head.
            if self.framing != .http { self.replyFramed() }
            guard self.pairing, let request = self.lastAnswered else { return }
            info.requestUnit = request.unit
            info.requestMono = request.info.requestMono
            info.attempt = request.info.attempt
        }
    }

    /// The request the next final reply answers, as far as framing knows (HTTP keeps it
    /// after pairing stopped).
    package var next: Request? {
        guard case .request(let request)? = self.entries.first else { return nil }
        return request
    }

    /// A final reply was framed: it answers the head of the queue, and answers queued
    /// right behind that request are due once the reply has gone on.
    func replyFramed() {
        // Taken off, not looked at first: the queue never starts with an answer, and a
        // look copies the whole request (every reply comes here).
        guard !self.entries.isEmpty, case .request(let request) = self.entries.removeFirst() else {
            self.lastAnswered = nil
            return
        }
        self.owed -= 1
        self.lastAnswered = request
        // Entries beyond the requests owed are answers; most queues hold none.
        while self.entries.count > self.owed, case .answer(let bytes)? = self.entries.first {
            self.entries.removeFirst()
            self.due.append(bytes)
        }
    }

    // MARK: Forwarding

    /// The unit `unit` went on to the server (reported as it goes past the framing
    /// handlers); `info` is nil for a raw unit.
    func requestForwarded(unit: UInt64, info: MessageInfo?) {
        guard let info else {
            self.stopPairing()
            return
        }
        self.lastForwarded = unit
        self.enqueue(Request(unit: unit, info: info))
    }

    /// Queues a request the server got; `HTTPFramer.requestForwarded` calls it too.
    func enqueue(_ request: Request) {
        if self.pairing {
            if self.framing == .resp,
                request.info.silencesReplies || request.info.command.map(Self.unpairedCommands.contains) == true
            {
                self.stopPairing()
            } else if self.owed >= Self.maxOutstanding {
                self.stopPairing()
            }
        }
        guard self.pairing || (self.framing == .http && !self.responseSideRaw) else { return }
        self.entries.append(.request(request))
        self.owed += 1
    }

    /// The request just forwarded as `unit` cuts the connection when its reply begins.
    package func severOnReply(to unit: UInt64, _ decision: FaultDecision) {
        guard self.pairing, let last = self.entries.indices.last, case .request(var request) = self.entries[last],
            request.unit == unit
        else { return }
        request.severOnReply = decision
        self.entries[last] = .request(request)
    }

    /// A unit of `byteCount` bytes went on towards the client; `info` is nil for a raw
    /// unit.
    func replyForwarded(byteCount: Int, info: MessageInfo?) {
        self.downstreamBytes += byteCount
        self.settle()
        if let request = info?.requestUnit {
            self.replyEnds.append((request, self.downstreamBytes))
        }
    }

    // MARK: Answers in the server's place

    /// The request the reply being read answers, for a stage that matches replies on it;
    /// nil once pairing stopped.
    package var awaited: Request? {
        self.pairing ? self.next : nil
    }

    /// An answer written in the server's place: returns it to write at once, or nil when
    /// it waits behind replies still owed (`takeDue` hands it out in its turn).
    package func inject(_ answer: ByteBuffer) -> ByteBuffer? {
        guard self.pairing, self.owed > 0 else { return answer }
        self.entries.append(.answer(answer))
        return nil
    }

    /// Answers whose turn came, in order.
    package func takeDue() -> [ByteBuffer] {
        guard !self.due.isEmpty else { return [] }
        defer { self.due = [] }
        return self.due
    }

    /// Stops pairing for the rest of the connection (a direction fell back to raw): held
    /// answers are due at once.
    func stopPairing() {
        guard self.pairing else { return }
        self.pairing = false
        self.lastAnswered = nil
        let keepRequests = self.framing == .http && !self.responseSideRaw
        var kept = CircularBuffer<Entry>()
        for entry in self.entries {
            switch entry {
            case .answer(let bytes): self.due.append(bytes)
            case .request: if keepRequests { kept.append(entry) }
            }
        }
        self.entries = kept
        self.owed = kept.count
    }

    // MARK: What the client got

    /// The last request forwarded whose reply had not reached the client socket by now,
    /// if no later reply did: what the client was left waiting for.
    package func unanswered() -> UInt64? {
        self.settle()
        guard let forwarded = self.lastForwarded else { return nil }
        if let delivered = self.lastDelivered, delivered >= forwarded { return nil }
        return forwarded
    }

    /// Moves replies the client socket has taken into `lastDelivered`.
    private func settle() {
        let sent = self.deliveredToClient?() ?? Int.max
        while let first = self.replyEnds.first, first.end <= sent {
            self.lastDelivered = first.request
            self.replyEnds.removeFirst()
        }
    }

    /// Whether a reply answers a request, or is an interim or pushed one (an HTTP 1xx
    /// other than 101, a RESP3 push).
    package static func isFinalReply(_ info: MessageInfo?, bytes: ByteBuffer, framing: FramingConfiguration.Kind) -> Bool {
        switch framing {
        case .http:
            guard let status = info?.status else { return true }
            return !(100..<200).contains(status) || status == 101
        case .resp:
            return bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) != UInt8(ascii: ">")
        case .line, .length, .raw:
            return true
        }
    }
}

@available(*, unavailable)
extension Exchange: Sendable {}
