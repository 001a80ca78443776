import ArgumentParser
import FaultlineCore
import FaultlineFraming

/// `--framing` and the options that shape it, shared by every command that runs a proxy.
struct FramingOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "How to cut each connection into messages: raw (chunks as they come; the default, costs nothing), line (newline-delimited), length (a length prefix; see --length-prefix), http (HTTP/1.1 requests and responses) or resp (Redis RESP2/RESP3). Overrides the profile's 'framing:'.",
            valueName: "raw|line|length|http|resp"
        )
    )
    var framing: String?

    @Option(help: ArgumentHelp("With --framing length: the prefix is 1, 2, 4 or 8 bytes.", valueName: "bytes"))
    var lengthPrefix: Int?

    @Option(help: ArgumentHelp("With --framing length: the prefix's byte order.", valueName: "big|little"))
    var lengthEndian: String?

    @Flag(help: "With --framing length: the length counts the prefix's own bytes too.")
    var lengthIncludesPrefix = false

    @Option(
        help: ArgumentHelp(
            "Largest HTTP head, trailer section or RESP line before the connection is carried raw (64KiB by default).",
            valueName: "size"
        )
    )
    var maxHeaderSize: String?

    @Option(
        help: ArgumentHelp(
            "Largest message, head and body, before the connection is carried raw (8MiB by default).",
            valueName: "size"
        )
    )
    var maxMessageSize: String?

    @Option(
        help: ArgumentHelp(
            "How long a started message may stay incomplete before the connection is carried raw (2s by default; 0s for no bound).",
            valueName: "duration"
        )
    )
    var maxHold: DurationArgument?

    @Flag(help: "Put each framed message's bytes, base64, in its 'message' event (what replay needs; makes logs large).")
    var recordPayloads = false

    func validate() throws {
        // Without --framing the profile may still say 'framing: length': the length
        // options are checked against it when the profile is loaded.
        let hasLengthOptions = self.lengthPrefix != nil || self.lengthEndian != nil || self.lengthIncludesPrefix
        _ = try self.configuration(profileFraming: self.framing == nil && hasLengthOptions ? .length : nil)
    }

    /// The framing these options describe, `--framing` first, else the profile's
    /// `framing:` (`profileFraming`), else raw; a `ValidationError` names the bad option.
    func configuration(profileFraming: Profile.Framing? = nil) throws -> FramingConfiguration {
        let name = self.framing ?? profileFraming?.rawValue ?? "raw"
        var limits = FramingLimits()
        if let text = self.maxHeaderSize { limits.maxHeaderBytes = try Self.size(text, option: "--max-header-size") }
        if let text = self.maxMessageSize { limits.maxMessageBytes = try Self.size(text, option: "--max-message-size") }
        if let hold = self.maxHold {
            let nanoseconds = hold.duration.nanoseconds
            limits.maxHoldNanoseconds = nanoseconds > 0 ? nanoseconds : nil
        }
        let isLength = name == "length"
        if !isLength, self.lengthPrefix != nil || self.lengthEndian != nil || self.lengthIncludesPrefix {
            throw ValidationError("--length-prefix, --length-endian and --length-includes-prefix go with --framing length (or a profile that says 'framing: length')")
        }
        var prefix: LengthPrefix?
        if isLength {
            let endian: LengthPrefix.Endianness
            switch self.lengthEndian ?? "big" {
            case "big": endian = .big
            case "little": endian = .little
            case let other: throw ValidationError("--length-endian '\(other)': use big or little")
            }
            do {
                prefix = try LengthPrefix(width: self.lengthPrefix ?? 4, endianness: endian, includesPrefix: self.lengthIncludesPrefix)
            } catch {
                throw ValidationError(error.description)
            }
        }
        let kind: FramingConfiguration.Kind
        do {
            kind = try FramingConfiguration.Kind(name: name, lengthPrefix: prefix)
        } catch {
            throw ValidationError("--\(error.description)")
        }
        return FramingConfiguration(kind: kind, limits: limits, recordPayloads: self.recordPayloads)
    }

    /// `65536`, `64KiB`, `8MiB`, `1GiB` (also `k`, `m`, `g` for the same binary units).
    static func size(_ text: String, option: String) throws -> Int {
        let units: [(String, Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30),
            ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1),
        ]
        var number = Substring(text)
        var scale = 1
        for (suffix, value) in units where number.hasSuffix(suffix) {
            number = number.dropLast(suffix.count)
            scale = value
            break
        }
        guard let value = Int(number), value > 0, value <= Int.max / scale else {
            throw ValidationError("\(option) '\(text)': use a positive size such as 65536, 64KiB or 8MiB")
        }
        return value * scale
    }
}
