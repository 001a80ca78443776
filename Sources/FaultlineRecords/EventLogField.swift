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
    case framing, plan, reason, count
    case datagramsFromClient = "datagrams_from_client"
    case datagramsToUpstream = "datagrams_to_upstream"
    case datagramsFromUpstream = "datagrams_from_upstream"
    case datagramsToClient = "datagrams_to_client"
    case datagramsDroppedUpstream = "datagrams_dropped_upstream"
    case datagramsDroppedDownstream = "datagrams_dropped_downstream"
    case datagramsDuplicatedUpstream = "datagrams_duplicated_upstream"
    case datagramsDuplicatedDownstream = "datagrams_duplicated_downstream"

    /// The fields by the bytes of their names, grouped by length.
    ///
    /// A key is found with one length check and, per same-length name (at most a
    /// handful), compares of 8-byte words read straight from the line, the first word
    /// first (it nearly always decides), without making a `String` of it or calling out.
    struct Table: Sendable {
        /// Entries for names `n` bytes long are `starts[n]..<starts[n + 1]`.
        private let starts: [Int]
        /// Per entry, `wordsPerName` little-endian words of its name, zero-padded.
        private let words: [UInt64]
        private let fields: [EventLogField]
        private let wordsPerName: Int

        init() {
            let names = EventLogField.allCases.map { (Array($0.rawValue.utf8), $0) }.sorted { $0.0.count < $1.0.count }
            let longest = names.last?.0.count ?? 0
            let wordsPerName = (longest + 7) / 8
            var starts = [Int](repeating: names.count, count: longest + 2)
            var words: [UInt64] = []
            for (index, (name, _)) in names.enumerated().reversed() {
                starts[name.count] = index
            }
            for length in stride(from: longest, through: 0, by: -1) where starts[length] > starts[length + 1] {
                starts[length] = starts[length + 1]  // no name this long: an empty range
            }
            for (name, _) in names {
                name.withUnsafeBufferPointer { bytes in
                    for index in 0..<wordsPerName { words.append(Self.word(bytes.baseAddress!, bytes.count, index)) }
                }
            }
            self.starts = starts
            self.words = words
            self.fields = names.map(\.1)
            self.wordsPerName = wordsPerName
        }

        /// Word `index` of the `count` bytes at `base`: bytes `8 * index ..< 8 * index + 8`,
        /// little-endian, zero past the end.
        @inline(__always)
        private static func word(_ base: UnsafePointer<UInt8>, _ count: Int, _ index: Int) -> UInt64 {
            let start = index &* 8
            if start >= count { return 0 }
            if count &- start >= 8 {
                return UInt64(littleEndian: UnsafeRawPointer(base + start).loadUnaligned(as: UInt64.self))
            }
            var value: UInt64 = 0
            for offset in 0..<(count &- start) {
                value |= UInt64(base[start &+ offset]) << UInt64(8 &* offset)
            }
            return value
        }

        /// The field named by `key`, or nil for a key this build does not know.
        ///
        /// `readable` is how many bytes may be read from the key's start (to the end of
        /// its line, at least `key.count`): with 8 of them, a short key's first word is
        /// one load, masked to its length.
        func field(_ key: UnsafeBufferPointer<UInt8>, readable: Int) -> EventLogField? {
            let count = key.count
            guard count + 1 < self.starts.count, let base = key.baseAddress else { return nil }
            let first = self.starts[count], last = self.starts[count + 1]
            guard first < last else { return nil }
            let word0: UInt64
            if count < 8, readable >= 8 {
                let loaded = UInt64(littleEndian: UnsafeRawPointer(base).loadUnaligned(as: UInt64.self))
                word0 = loaded & ((UInt64(1) << UInt64(count &* 8)) &- 1)
            } else {
                word0 = Self.word(base, count, 0)
            }
            return self.words.withUnsafeBufferPointer { words in
                for entry in first..<last where words[entry &* self.wordsPerName] == word0 {
                    var same = true
                    for index in stride(from: 1, to: (count &+ 7) / 8, by: 1) {
                        if words[entry &* self.wordsPerName &+ index] != Self.word(base, count, index) {
                            same = false
                            break
                        }
                    }
                    if same { return self.fields[entry] }
                }
                return nil
            }
        }
    }
}
