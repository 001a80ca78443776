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
    /// A key is found with one length check and, per same-length name (at most a
    /// handful), a compare of its first 32 bytes as four words, without making a
    /// `String` of it. Names longer than 32 bytes compare the rest with `memcmp`.
    struct Table: Sendable {
        private struct Entry: Sendable {
            var words: (UInt64, UInt64, UInt64, UInt64)
            var name: [UInt8]
            var field: EventLogField
        }

        private let buckets: [[Entry]]

        init() {
            let longest = EventLogField.allCases.map(\.rawValue.utf8.count).max() ?? 0
            var buckets = [[Entry]](repeating: [], count: longest + 1)
            for field in EventLogField.allCases {
                let name = Array(field.rawValue.utf8)
                let words = name.withUnsafeBufferPointer { Self.words($0) }
                buckets[name.count].append(Entry(words: words, name: name, field: field))
            }
            self.buckets = buckets
        }

        /// The first 32 bytes of `bytes` as four words, zero-padded.
        private static func words(_ bytes: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64, UInt64, UInt64) {
            var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            withUnsafeMutableBytes(of: &words) { storage in
                storage.copyMemory(from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes).prefix(32)))
            }
            return words
        }

        /// The field named by `key`, or nil for a key this build does not know.
        func field(_ key: UnsafeBufferPointer<UInt8>) -> EventLogField? {
            guard key.count < self.buckets.count, let base = key.baseAddress else { return nil }
            let words = Self.words(key)
            for entry in self.buckets[key.count]
            where entry.words.0 == words.0 && entry.words.1 == words.1 && entry.words.2 == words.2 && entry.words.3 == words.3 {
                if key.count <= 32 { return entry.field }
                let same = entry.name.withUnsafeBufferPointer { name in
                    memcmp(name.baseAddress! + 32, base + 32, key.count - 32) == 0
                }
                if same { return entry.field }
            }
            return nil
        }
    }
}
