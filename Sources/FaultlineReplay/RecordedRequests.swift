import FaultlineCore
import FaultlineRecords
import Foundation

/// The protocols replay speaks: the framings that carry requests it can resend and
/// replies whose end it can find.
package enum ReplayProtocol: String, Sendable, CaseIterable {
    case http
    case resp
    /// One request per line, one reply line each (`--framing line`): no method, no key,
    /// so only the unkeyed experiments (SR-01, SR-05) apply.
    case line
}

/// One operation's representative request: the first recorded one with a payload.
package struct RecordedRequest: Sendable, Equatable {
    /// `POST /accounts/{id}/deposits`, `INCR`, `SET NX`.
    package var operation: String
    package var wire: ReplayProtocol
    /// The exact bytes the client sent, from the log's `payload`.
    package var bytes: [UInt8]
    /// `FILE:LINE` of the `message` event.
    package var source: String

    package init(operation: String, wire: ReplayProtocol, bytes: [UInt8], source: String) {
        self.operation = operation
        self.wire = wire
        self.bytes = bytes
        self.source = source
    }
}

/// What replay takes from an event log: one request per operation, in the order the
/// log first shows each operation.
package struct RecordedRequests: Sendable {
    package var wire: ReplayProtocol
    package var requests: [RecordedRequest]
    /// Request messages read (with or without payload).
    package var messages: Int
    /// Every event the log holds, and the seeds of its proxies (`proxy_start`), in the
    /// order read: the report says what it read, as `check retries` does.
    package var events: Int
    package var seeds: [UInt64]
    /// Connections whose requests the recording proxy could not frame: never replayed,
    /// and the report says so.
    package var unframed: [UnframedRequest]

    package init(
        wire: ReplayProtocol, requests: [RecordedRequest], messages: Int, events: Int = 0, seeds: [UInt64] = [],
        unframed: [UnframedRequest] = []
    ) {
        self.wire = wire
        self.requests = requests
        self.messages = messages
        self.events = events
        self.seeds = seeds
        self.unframed = unframed
    }

    /// Reads `path` (JSON Lines, streamed).
    ///
    /// - Throws: `InvalidInputError` (exit 2) for a log without framing (`--framing`),
    ///   without payloads (`--record-payloads`), or framed in a protocol replay does
    ///   not speak; the log reader's errors for a file that cannot be read or parsed.
    package static func load(path: String) throws -> RecordedRequests {
        var framings: [String: String] = [:]
        var wire: ReplayProtocol?
        var messages = 0
        var withPayload = 0
        var requests: [RecordedRequest] = []
        var named: Set<String> = []
        var otherFraming: String?
        var events = 0
        var seeds: [UInt64] = []
        var unframed: [UnframedRequest] = []
        try EventLogReader.forEach(path: path) { event, line in
            events += 1
            switch event.type {
            case .proxyStart:
                if let seed = event.seed, !seeds.contains(seed) { seeds.append(seed) }
                if let framing = event.framing, framing != "raw" { framings[event.proxy ?? "proxy"] = framing }
            case .message:
                guard event.direction == .upstream, let framing = framings[event.proxy ?? "proxy"] else { return }
                guard let kind = ReplayProtocol(rawValue: framing) else {
                    otherFraming = framing
                    return
                }
                messages += 1
                guard let payload = event.payload, let data = Data(base64Encoded: payload) else { return }
                withPayload += 1
                let bytes = [UInt8](data)
                guard let operation = Self.operation(of: bytes, wire: kind, event: event) else { return }
                if wire == nil { wire = kind }
                guard kind == wire, named.insert(operation).inserted else { return }
                requests.append(RecordedRequest(operation: operation, wire: kind, bytes: bytes, source: "\(path):\(line)"))
            case .framingFallback:
                // Only the request direction loses requests; a reply-side fallback does not.
                guard event.direction == .upstream, framings[event.proxy ?? "proxy"] != nil else { return }
                unframed.append(
                    UnframedRequest(proxy: event.proxy, connection: event.conn, reason: event.reason ?? "no reason recorded", source: "\(path):\(line)")
                )
            default:
                return
            }
        }
        if framings.isEmpty {
            throw InvalidInputError(
                "\(path): the log has no framing: record it with 'faultline proxy --framing http' (or resp, line) "
                    + "and --record-payloads, so replay knows the requests and their bytes"
            )
        }
        if messages == 0, let otherFraming {
            throw InvalidInputError(
                "\(path): the log is framed '\(otherFraming)': check idempotency replays http, resp and line framing "
                    + "(a length prefix carries no operation or reply boundary it could judge)"
            )
        }
        if messages == 0, let lost = unframed.first {
            throw InvalidInputError(
                "\(path): the log has no requests to replay: the proxy could not frame the requests of "
                    + "\(unframed.count) connection(s) (\(lost.source): \(lost.reason)); \(lost.remedy)"
            )
        }
        if messages == 0 {
            throw InvalidInputError("\(path): the log has no requests to replay (no upstream 'message' events)")
        }
        if withPayload == 0 {
            throw InvalidInputError(
                "\(path): the log has \(messages) request(s) but no payloads: record it with "
                    + "'faultline proxy --record-payloads' so replay has the exact bytes to resend"
            )
        }
        guard let wire else {
            throw InvalidInputError("\(path): no recorded payload parses as an \(framings.values.first ?? "http") request")
        }
        return RecordedRequests(wire: wire, requests: requests, messages: messages, events: events, seeds: seeds, unframed: unframed)
    }

    static func operation(of bytes: [UInt8], wire: ReplayProtocol, event: Event) -> String? {
        switch wire {
        case .http:
            guard let request = HTTPRequestBytes(bytes) else { return nil }
            return ReplayOperationName.http(method: event.method ?? request.method, target: event.path ?? request.target)
        case .resp:
            guard let words = RESPCommand.words(bytes) else { return nil }
            return ReplayOperationName.resp(words: words)
        case .line:
            return ReplayOperationName.line(bytes)
        }
    }
}
