import FaultlineCore

/// The state `RetryChecker` keeps while it streams: attempts, logical requests still
/// open, connections still open, and per-client aggregates. Everything here is dropped
/// or folded into an aggregate once no later event can change it.
extension RetryChecker {
    /// One request message (an attempt), and what became of it.
    struct AttemptState {
        var request: Int
        var index: Int
        var proxy: String
        var conn: UInt64
        var connKey: ConnKey
        var unit: UInt64
        var line: Int
        /// First byte arrived (`first_mono`, else `mono`).
        var start: UInt64
        /// Last byte arrived (`mono`).
        var lastByte: UInt64
        var key: String?
        var fingerprint: String?
        /// The connection carried earlier requests (a failure here may be retried
        /// transparently, as Go's Transport does).
        var reused: Bool
        /// False when the request never reached the server (dropped, answered by the
        /// proxy, cut before it).
        var forwarded = true
        /// Nil while no event has decided it.
        var outcome: CheckReport.Outcome?
        /// When the client saw the attempt end.
        var end: UInt64?
        var status: Int?
        var retryAfter: String?
        /// Wall time of the reply (for an HTTP-date Retry-After).
        var replyTime: String?
        /// The fault that decided the outcome (or touched the attempt): `rule (kind)`.
        var fault: String?
        /// Delay faults on the reply, added to the reply's `mono`.
        var replyDelay: UInt64 = 0
        var replyUnit: UInt64?
        /// When the reply's last byte came from the server (before any delay).
        var replyMono: UInt64?
        /// A fault withheld the reply (hang, blackhole, drop, a cut after forwarding):
        /// whether the client has a timeout shows here (CR-19).
        var withheld = false
        /// When the connection ended and whether the client ended it.
        var closedAt: UInt64?
        var closedByClient = false
        /// The connection is gone: no later event can change this attempt.
        var settled = false
        /// The timeline's fault rows that hit this attempt.
        var faultRows: [Int] = []
    }

    /// Attempts grouped into one logical request.
    struct LogicalRequest {
        var id: Int
        var operation: String
        var client: String
        var safety: RequestOperation.Safety
        var fingerprint: String?
        var attempts: [AttemptState] = []
        /// CR-03: the attempt indices whose key appeared or went away.
        var keyChanges: [Int] = []
        /// CR-03: the failed logical request this one followed with the same payload
        /// and another key (a new operation, or a retry that changed its key), that
        /// request's key and how its last attempt ended.
        var rekeyedAfter: Rekeyed?
        typealias Rekeyed = (request: Int, key: String, outcome: CheckReport.Outcome?)
        /// CR-04: the logical request whose key this one reused with another payload.
        var reusedKeyOf: Int?
        /// CR-15: the logical request this one overlapped (it was sent while that one was
        /// in flight, and that one succeeded).
        var concurrentWith: Int?
        /// CR-22: the logical request that already succeeded with the same request.
        var duplicateOf: Int?
        var duplicateKeyed = false
        /// The fault that touched that success (a delayed reply the client may have
        /// stopped waiting for), if any.
        var duplicateAfterFault: String?

        var lastEnd: UInt64 {
            guard let last = self.attempts.last else { return 0 }
            return max(last.end ?? last.lastByte, last.lastByte)
        }

        var lastKey: String? { self.attempts.last?.key }

        /// The last attempt got a successful answer (2xx/3xx, or a reply with no status)
        /// that had reached the client by `time` (a delayed reply still on its way does
        /// not count: the client may already be retrying).
        func lastSucceeded(by time: UInt64) -> Bool {
            guard let last = self.attempts.last, RetryChecker.succeeded(last) else { return false }
            return (last.end ?? .max) <= time
        }
    }

    struct ConnKey: Hashable {
        var scope: Int
        var conn: UInt64
    }

    /// A stop in one or both directions: hang, blackhole, a cut.
    struct Stop {
        var mono: UInt64
        var fault: String
        var kind: String
        var upstream: Bool
        var downstream: Bool
    }

    struct ConnState {
        var client: String
        /// When its `conn_open` was logged (nil: no `conn_open` seen).
        var openedAt: UInt64?
        var requestsSeen = 0
        /// Request unit → (logical request, attempt index), while it can still change.
        var requests: [UInt64: AttemptRef] = [:]
        /// Reply unit → attempt it answers.
        var replies: [UInt64: AttemptRef] = [:]
        /// Faults on a unit whose message event has not come yet.
        var pendingUp: [UInt64: [Event]] = [:]
        var pendingDown: [UInt64: [Event]] = [:]
        var stop: Stop?
        /// A chunk delay on reply bytes not yet framed: applied to the next reply.
        var pendingChunkDelay: UInt64 = 0
        /// Timeline rows of span faults that end when the connection does.
        var openSpans: [Int] = []
        /// The attempt placed last on this connection: its fingerprint, its start, and
        /// when the work it belongs to began (its logical request's first attempt; its
        /// own start when nothing open had sent it before): `callEnded`.
        var lastPlaced: (fingerprint: String?, start: UInt64, began: UInt64)?
    }

    /// How long a client waited after a success before sending the same request again.
    struct RepeatCadence {
        /// The last 8 waits, oldest first.
        var gaps: [UInt64] = []
        /// When the last repeat went out.
        var last: UInt64 = 0

        mutating func add(gap: UInt64, at time: UInt64) {
            if self.gaps.count == 8 { self.gaps.removeFirst() }
            self.gaps.append(gap)
            self.last = max(self.last, time)
        }

        /// The median wait when the waits are steady (the longest at most twice the
        /// shortest), else nil.
        var steady: Double? {
            guard let low = self.gaps.min(), let high = self.gaps.max(), high <= 2 * low else { return nil }
            return GapStatistics.median(self.gaps.map { Double($0) })
        }
    }

    /// A request's fingerprint on one connection.
    struct ConnFingerprint: Hashable {
        var conn: ConnKey
        var fingerprint: String
    }

    struct AttemptRef: Hashable {
        var request: Int
        var index: Int
    }

    /// Requests group per proxy (as the proxy's own attempt ledger does): the same
    /// bytes sent to two services are two requests, not a retry.
    struct FingerprintKey: Hashable {
        var proxy: String
        var client: String
        var fingerprint: String
    }

    /// What the checker keeps about one proxy of one log.
    struct Scope {
        var file: String
        var proxy: String
        var framing: String?
        var messages = 0
    }

    /// What is kept per client once its logical requests are finished.
    struct ClientAggregate {
        var logicalRequests = 0
        var retried = 0
        var attemptsInRetried = 0
        var maxAttempts = 0
        /// Gap samples by retry index j, the gap before attempt j (from 0, so 1 = the first
        /// retry, before the second message), index ≥ 16 folded.
        var gaps: [Int: Reservoir] = [:]
        /// CR-06: retries not exempt from backoff rules, and the immediate ones, by index.
        var judged: [Int: Int] = [:]
        var immediate: [Int: Int] = [:]
        /// Retries whose gap is unknown and may be long (the failure's time is unknown,
        /// and the sends were `min_gap` or more apart), by index: they count against
        /// calling an index immediate, never for it.
        var unmeasured: [Int: Int] = [:]
        /// Immediate retries known only from the time between the sends.
        var immediateBySends = 0
        /// CR-07: logical requests with at least 3 retries.
        var longRequests = 0
        /// CR-06 candidates: requests with ≥ 2 immediate retries (capped).
        var immediateRequests: [(request: Int, indices: [Int], evidence: [CheckReport.AttemptEvidence], operation: String)] = []
        var immediateRequestsTotal = 0
        /// CR-09: the longest gap and its evidence.
        var longestGap: (ns: Double, request: Int, evidence: [CheckReport.AttemptEvidence], operation: String)?
        /// The longest span of a logical request that gave up.
        var deadline: UInt64?
        /// How long the client waited before giving up on a reply.
        var timeouts = Reservoir(capacity: 1024)
        var faultRequests = 0
        var faultAttempts = 0
    }

    /// A finding waiting for the client-wide evidence it depends on (CR-14 share).
    struct Candidate {
        var finding: CheckReport.Finding
        var sortTime: Int64
    }
}

extension RetryChecker {
    static func succeeded(_ attempt: AttemptState) -> Bool {
        switch attempt.outcome {
        case .answered?, .answeredByProxy?:
            guard let status = attempt.status else { return attempt.outcome == .answered }
            return status < 400
        default:
            return false
        }
    }
}
