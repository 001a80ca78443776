import ArgumentParser

/// A `--flag 100M` size: a whole number and an optional binary unit, `K`, `M` or `G`
/// (also written `KB`, `KiB`, and so on; all mean powers of 1024). A bare number is bytes.
struct ByteSizeArgument: ReasonedArgument {
    var bytes: Int64

    init(bytes: Int64) {
        self.bytes = bytes
    }

    init(parsing text: String) throws {
        let upper = text.uppercased()
        let digits = upper.prefix { $0.isASCII && $0.isNumber }
        let scale: Int64?
        switch upper.dropFirst(digits.count) {
        case "", "B": scale = 1
        case "K", "KB", "KIB": scale = 1 << 10
        case "M", "MB", "MIB": scale = 1 << 20
        case "G", "GB", "GIB": scale = 1 << 30
        default: scale = nil
        }
        guard !digits.isEmpty, let scale else {
            throw InvalidArgumentValue("a size is a whole number and an optional unit K, M or G (for example 64K, 100M, 1G)")
        }
        guard let number = Int64(digits), case let (bytes, false) = number.multipliedReportingOverflow(by: scale) else {
            throw InvalidArgumentValue("a size must be less than 8589934592G")
        }
        guard bytes > 0 else { throw InvalidArgumentValue("a size must be at least 1 byte") }
        self.bytes = bytes
    }

    /// The size as a user would write it: `64M` rather than `67108864`.
    var description: String {
        for (suffix, scale) in [("G", Int64(1) << 30), ("M", Int64(1) << 20), ("K", Int64(1) << 10)] where self.bytes % scale == 0 {
            return "\(self.bytes / scale)\(suffix)"
        }
        return "\(self.bytes)"
    }
}
