/// The bytes of one fuzz case, read from the front: a few control bytes choose how the
/// rest is fed (splits, limits, options), so one corpus file replays exactly.
///
///     | control bytes | payload ........................................ |
///       taken by take()   what the parser under test reads
struct FuzzInput {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The next control byte, 0 once the input is used up.
    mutating func take() -> UInt8 {
        guard self.position < self.bytes.count else { return 0 }
        defer { self.position += 1 }
        return self.bytes[self.position]
    }

    /// Everything not taken yet.
    var rest: ArraySlice<UInt8> {
        self.bytes[min(self.position, self.bytes.count)...]
    }
}

