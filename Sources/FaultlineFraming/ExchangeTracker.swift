import FaultlineCore
import NIOCore

/// Follows one framed connection's requests and replies for the event log: the attempt
/// of each request, which request each reply answers, and which request the client was
/// still waiting for when the connection ended.
///
/// Request-reply protocols answer in order, so the *n*th final reply answers the *n*th
/// request the server got. A request is queued when it really goes on to the server
/// (the upstream unframer reports it, after any stage that drops, answers or holds it),
/// and a final reply takes the head of the queue:
///
///     forwarded:  [u0] [u1]           reply framed → answers u0 (request_unit 0)
///     delivered:  bytes to the client ≥ the reply's end → u0 reached the client
///
/// Pairing stops for good (replies then carry no `request_unit`) when either direction
/// falls back to raw, a RESP client enters a mode where replies no longer answer
/// commands one for one, or `maxOutstanding` requests wait. Both channels of a
/// connection run on its one event loop, so no lock is needed.
package final class ExchangeTracker {
    /// Requests owed a reply beyond which pairing stops: a protocol whose server does not
    /// answer every message (fire-and-forget lines) must not grow the queue for ever.
    package static let maxOutstanding = 4096

    /// RESP commands after which replies stop answering commands one for one.
    package static let unpairedCommands: Set<String> = ["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR"]

    private struct Request {
        var unit: UInt64
        var firstMono: UInt64
        var attempt: UInt64?
    }

    private let framing: FramingConfiguration.Kind
    private let attempts: AttemptLedger?
    private let client: String?
    private var queue: [Request] = []
    private var head = 0
    private(set) var pairing = true

    /// Bytes of whole replies the downstream unframer passed on, and where each ended.
    private var downstreamBytes = 0
    private var replyEnds: [(request: UInt64, end: Int)] = []
    private var replyHead = 0
    private var lastForwarded: UInt64?
    private var lastDelivered: UInt64?
    /// Bytes the client socket has taken so far; set by the proxy (its write ledger).
    package var deliveredToClient: (() -> Int)?

    /// - Parameters:
    ///   - attempts: the proxy's ledger; nil numbers no attempts.
    ///   - client: the client's host (no port), which scopes fingerprint grouping.
    package init(framing: FramingConfiguration.Kind, attempts: AttemptLedger?, client: String?) {
        self.framing = framing
        self.attempts = attempts
        self.client = client
    }

    /// Stamps a request's attempt, or a final reply's request, into `info` as the framer
    /// emits it. `firstMono` is when the message's first byte arrived.
    func framed(_ info: inout MessageInfo, unit: UInt64, firstMono: UInt64, now: UInt64, bytes: ByteBuffer) {
        switch info.role {
        case .request:
            info.attempt = self.attempts?.attempt(of: info, client: self.client, at: .nanoseconds(Int64(clamping: now)))
            info.requestMono = firstMono
        case .response:
            guard self.pairing, Self.isFinalReply(info, bytes: bytes, framing: self.framing) else { return }
            guard self.head < self.queue.count else { return }
            let request = self.queue[self.head]
            self.head += 1
            if self.head > 64, self.head * 2 > self.queue.count {
                self.queue.removeFirst(self.head)
                self.head = 0
            }
            info.requestUnit = request.unit
            info.requestMono = request.firstMono
            info.attempt = request.attempt
        }
    }

    /// The upstream unframer passed `message` on to the server.
    func requestForwarded(_ message: FramedMessage) {
        guard let info = message.info else {
            self.stopPairing()
            return
        }
        self.lastForwarded = message.unit
        guard self.pairing else { return }
        if self.framing == .resp, info.silencesReplies || info.command.map(Self.unpairedCommands.contains) == true {
            self.stopPairing()
            return
        }
        if self.queue.count - self.head >= Self.maxOutstanding {
            self.stopPairing()
            return
        }
        self.queue.append(Request(unit: message.unit, firstMono: info.requestMono ?? 0, attempt: info.attempt))
    }

    /// The downstream unframer passed `message` on towards the client.
    func replyForwarded(_ message: FramedMessage) {
        self.downstreamBytes += message.bytes.readableBytes
        self.settle()
        if let request = message.info?.requestUnit {
            self.replyEnds.append((request, self.downstreamBytes))
        }
    }

    /// Stops pairing for the rest of the connection (a direction fell back to raw).
    func stopPairing() {
        self.pairing = false
        self.queue = []
        self.head = 0
    }

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
        while self.replyHead < self.replyEnds.count, self.replyEnds[self.replyHead].end <= sent {
            self.lastDelivered = self.replyEnds[self.replyHead].request
            self.replyHead += 1
        }
        if self.replyHead > 64, self.replyHead * 2 > self.replyEnds.count {
            self.replyEnds.removeFirst(self.replyHead)
            self.replyHead = 0
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
extension ExchangeTracker: Sendable {}
