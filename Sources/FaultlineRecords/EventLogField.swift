#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Every key of an event-log line, spelled as the log spells it (`Event.CodingKeys`).
///
/// The streaming reader looks keys up in a byte table built from these raw values and sets
/// fields with an exhaustive `switch` over the cases, so a key added here without a setter
/// does not compile. A field added to `Event` but not here is read as an unknown key and
/// dropped: `EventLogStreamTests.everyFieldRoundTrips` sets every stored property of
/// `Event` (found with `Mirror`) and fails until the field is added here and in
/// `EventLogLineParser.readField`.
enum EventLogField: String, CaseIterable, Sendable {
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
    case framing, reason, count
    case datagramsFromClient = "datagrams_from_client"
    case datagramsToUpstream = "datagrams_to_upstream"
    case datagramsFromUpstream = "datagrams_from_upstream"
    case datagramsToClient = "datagrams_to_client"
    case datagramsDroppedUpstream = "datagrams_dropped_upstream"
    case datagramsDroppedDownstream = "datagrams_dropped_downstream"
    case datagramsDuplicatedUpstream = "datagrams_duplicated_upstream"
    case datagramsDuplicatedDownstream = "datagrams_duplicated_downstream"

    /// The fields by the bytes of their names: `buckets[n]` holds the names `n` bytes long.
    ///
    /// A key is found with one length check and a `memcmp` per same-length name (at most
    /// a handful), without making a `String` of it.
    struct Table: Sendable {
        private let buckets: [[(name: [UInt8], field: EventLogField)]]

        init() {
            let longest = EventLogField.allCases.map(\.rawValue.utf8.count).max() ?? 0
            var buckets = [[(name: [UInt8], field: EventLogField)]](repeating: [], count: longest + 1)
            for field in EventLogField.allCases {
                let name = Array(field.rawValue.utf8)
                buckets[name.count].append((name, field))
            }
            self.buckets = buckets
        }

        /// The field named by `key`, or nil for a key this build does not know.
        func field(_ key: UnsafeBufferPointer<UInt8>) -> EventLogField? {
            guard key.count < self.buckets.count, let base = key.baseAddress else { return nil }
            for entry in self.buckets[key.count] where entry.name[0] == base[0] {
                let same = entry.name.withUnsafeBufferPointer { name in
                    memcmp(name.baseAddress!, base, key.count) == 0
                }
                if same { return entry.field }
            }
            return nil
        }
    }
}
