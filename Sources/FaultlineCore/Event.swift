/// One line of the event log (JSON Lines), and the unit every part of faultline records.
///
/// The shape is flat on purpose: each `type` fills the fields that concern it and leaves
/// the rest out, so a line reads on its own and tools can filter by key. Field names are
/// the log's spelling (`snake_case`); `man/faultline-events.5` documents them.
/// Add fields, never rename them: a rename is a new `v`.
package struct Event: Codable, Sendable, Equatable {
    /// The log format this build writes.
    package static let formatVersion = 1

    /// What happened.
    package enum Kind: String, Codable, Sendable, CaseIterable {
        case proxyStart = "proxy_start"
        case proxyStop = "proxy_stop"
        case connectionOpen = "conn_open"
        case connectionClose = "conn_close"
        case message
        case fault
        case upstreamError = "upstream_error"
        case framingFallback = "framing_fallback"
        case logDropped = "log_dropped"
        /// Packets were not written to the `--pcap` capture: it fell behind, or a file
        /// could not be written.
        case captureDropped = "capture_dropped"
        /// UDP: the session cap was reached; datagrams from new clients are dropped.
        case sessionLimit = "session_limit"
        /// The reply to a copy of a request (a `duplicate` fault), read on the copy's own
        /// upstream connection and never sent to the client.
        case duplicateReply = "duplicate_reply"
        /// A new plan was put in force on a running proxy (`plan`, `profile`,
        /// `profile_hash`); it applies to new data on open connections at once.
        case planChange = "plan_change"
        /// The listener could not take a connection (out of descriptors): it pauses
        /// accepting for a moment; the connection waits in the backlog.
        case acceptFailed = "accept_failed"
    }

    /// Which way bytes travel: `upstream` is client to server.
    package enum Direction: String, Codable, Sendable, CaseIterable {
        case upstream
        case downstream
    }

    package var v: Int = Event.formatVersion
    package var type: Kind
    /// Wall clock, RFC 3339 with milliseconds, stamped by the recorder's injected clock.
    package var time: String?
    /// Monotonic nanoseconds, from the event loop's clock (comparable within a run).
    package var mono: UInt64?

    // Where.
    package var proxy: String?
    package var conn: UInt64?
    package var direction: Direction?
    /// Chunk, message or datagram ordinal within the connection and direction.
    package var unit: UInt64?
    package var client: String?
    package var upstream: String?
    package var listen: String?

    // How much.
    package var bytes: Int?
    /// On `conn_close`: bytes read from the client / written to the upstream, and back.
    package var bytesFromClient: Int?
    package var bytesToUpstream: Int?
    package var bytesFromUpstream: Int?
    package var bytesToClient: Int?
    /// Bytes the proxy discarded or added by faults, per direction, on `conn_close`.
    package var droppedUpstream: Int?
    package var droppedDownstream: Int?
    package var duplicatedUpstream: Int?
    package var duplicatedDownstream: Int?
    /// On `conn_close`: bytes faultline wrote to the client in the server's place
    /// (`respond`); not part of `bytes_to_client`.
    package var injectedDownstream: Int?
    /// UDP, on `conn_close`: the same accounting in datagrams. Per direction,
    /// from + duplicated = to + dropped.
    package var datagramsFromClient: Int?
    package var datagramsToUpstream: Int?
    package var datagramsFromUpstream: Int?
    package var datagramsToClient: Int?
    package var datagramsDroppedUpstream: Int?
    package var datagramsDroppedDownstream: Int?
    package var datagramsDuplicatedUpstream: Int?
    package var datagramsDuplicatedDownstream: Int?

    // Faults.
    package var rule: String?
    package var kind: String?
    package var action: String?
    package var params: [String: String]?

    // Protocol facts of framed messages.
    package var method: String?
    package var path: String?
    package var status: Int?
    package var idempotencyKey: String?
    package var command: String?
    package var fingerprint: String?
    /// Base64 of the message bytes, only with `--record-payloads`.
    package var payload: String?

    // Retry facts of framed messages (what `faultline check retries` judges).
    /// On a request: its attempt within its logical request, from 0, as the proxy's
    /// attempt ledger counted it (the same count `match.attempt` uses). On a reply: the
    /// attempt of the request it answers.
    package var attempt: UInt64?
    /// On a `message`: monotonic nanoseconds when its first byte arrived (`mono` is when
    /// its last byte arrived and it went on as a whole).
    package var firstMono: UInt64?
    /// On a reply: the unit of the request it answers (same connection, `upstream`).
    package var requestUnit: UInt64?
    /// On a reply: when the first byte of the request it answers arrived (monotonic ns).
    package var requestMono: UInt64?
    /// On an HTTP response: its `Retry-After` header as sent (seconds or an HTTP date).
    package var retryAfter: String?

    // How a connection ended (on `conn_close`).
    /// Which side ended first: `client`, `upstream`, or `proxy` when a fault cut it.
    package var closedBy: String?
    /// Monotonic nanoseconds when that first side ended (FIN, RST or error).
    package var firstCloseMono: UInt64?
    /// The last request forwarded whose reply had not reached the client when the
    /// connection ended; with `closed_by: client`, the client gave up waiting for it.
    package var unansweredUnit: UInt64?

    // Run facts (on `proxy_start`).
    package var seed: UInt64?
    package var profile: String?
    package var profileHash: String?
    package var framing: String?
    /// The number of the plan in force: on `proxy_start` (1) and `plan_change`, and on
    /// every `fault`, the plan that decided it.
    package var plan: UInt64?

    /// How a connection ended, or what went wrong, in words.
    package var reason: String?
    /// On `log_dropped`: how many events were lost.
    package var count: Int?

    package init(_ type: Kind) {
        self.type = type
    }

    package enum CodingKeys: String, CodingKey, CaseIterable {
        case v, type, time, mono, proxy, conn, direction, unit, client, upstream, listen, bytes
        case bytesFromClient = "bytes_from_client"
        case bytesToUpstream = "bytes_to_upstream"
        case bytesFromUpstream = "bytes_from_upstream"
        case bytesToClient = "bytes_to_client"
        case droppedUpstream = "dropped_upstream"
        case droppedDownstream = "dropped_downstream"
        case duplicatedUpstream = "duplicated_upstream"
        case duplicatedDownstream = "duplicated_downstream"
        case injectedDownstream = "injected_downstream"
        case rule, kind, action, params, method, path, status
        case idempotencyKey = "idempotency_key"
        case command, fingerprint, payload, attempt
        case firstMono = "first_mono"
        case requestUnit = "request_unit"
        case requestMono = "request_mono"
        case retryAfter = "retry_after"
        case closedBy = "closed_by"
        case firstCloseMono = "first_close_mono"
        case unansweredUnit = "unanswered_unit"
        case seed, profile
        case profileHash = "profile_hash"
        case framing, plan, reason, count
        case datagramsFromClient = "datagrams_from_client"
        case datagramsToUpstream = "datagrams_to_upstream"
        case datagramsFromUpstream = "datagrams_from_upstream"
        case datagramsToClient = "datagrams_to_client"
        case datagramsDroppedUpstream = "datagrams_dropped_upstream"
        case datagramsDroppedDownstream = "datagrams_dropped_downstream"
        case datagramsDuplicatedUpstream = "datagrams_duplicated_upstream"
        case datagramsDuplicatedDownstream = "datagrams_duplicated_downstream"
    }
}
