import ArgumentParser

/// A `--flag 100M` size: a whole number and an optional binary unit, `K`, `M` or `G`
/// (also written `KB`, `KiB`, and so on; all mean powers of 1024). A bare number is bytes.
struct ByteSizeArgument: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var bytes: Int64

    init(bytes: Int64) {
        self.bytes = bytes
    }

    init?(argument: String) {
        let text = argument.uppercased()
        let digits = text.prefix(while: \.isNumber)
        guard !digits.isEmpty, let number = Int64(digits) else { return nil }
        let scale: Int64
        switch text.dropFirst(digits.count) {
        case "", "B": scale = 1
        case "K", "KB", "KIB": scale = 1 << 10
        case "M", "MB", "MIB": scale = 1 << 20
        case "G", "GB", "GIB": scale = 1 << 30
        default: return nil
        }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: scale)
        guard !overflow, bytes > 0 else { return nil }
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
