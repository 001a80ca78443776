import Yams

/// `sever`: cut the connection with a reset, a FIN, or a half-close, at a byte offset
/// (fixed or drawn from a range, once per connection), after a time, or at once.
///
///     fault: {kind: sever, mode: reset, after_bytes: {min: 100, max: 4000}}
public struct SeverFault: Fault {
    public static let kind = "sever"
    public static let summary = "cut the connection (reset, fin or half-close) at a byte offset or after a time"
    public static let parameters = ["mode", "after_bytes", "after"]

    public var mode: SeverMode
    public var afterBytes: ClosedRange<Int>?
    public var after: Duration?

    public init(mode: SeverMode = .reset, afterBytes: ClosedRange<Int>? = nil, after: Duration? = nil) {
        self.mode = mode
        self.afterBytes = afterBytes
        self.after = after
    }

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        let mode = reader.optional(parameters, "mode") { reader.choice($0, what: "mode", as: SeverMode.self) }
        let bytes = reader.optional(parameters, "after_bytes") { reader.byteRange($0, what: "after_bytes") }
        let after = reader.optional(parameters, "after") { reader.duration($0, what: "after") }
        if parameters.has("after_bytes"), parameters.has("after") {
            reader.fail(parameters.key("after"), "sever takes after_bytes or after, not both")
            return nil
        }
        guard parameters["mode"] == nil || mode != nil, parameters["after_bytes"] == nil || bytes != nil,
            parameters["after"] == nil || after != nil
        else { return nil }
        self.init(mode: mode ?? .reset, afterBytes: bytes, after: after)
    }

    public var params: [String: String] {
        var params = ["mode": self.mode.rawValue]
        if let bytes = self.afterBytes {
            params["after_bytes"] = bytes.lowerBound == bytes.upperBound ? "\(bytes.lowerBound)" : "\(bytes.lowerBound)-\(bytes.upperBound)"
        }
        if let after = self.after { params["after"] = DurationText.format(after) }
        return params
    }

    public var explanation: String {
        let how: String
        switch self.mode {
        case .reset: how = "resets the connection (the client sees ECONNRESET)"
        case .fin: how = "closes the connection cleanly (the client sees end of stream)"
        case .halfClose: how = "closes that direction only (its reader sees end of stream; the other way keeps flowing)"
        }
        if let bytes = self.afterBytes {
            let at = bytes.lowerBound == bytes.upperBound ? "\(bytes.lowerBound) bytes" : "a point between \(bytes.lowerBound) and \(bytes.upperBound) bytes, chosen once per connection,"
            return "\(how) once \(at) have passed"
        }
        if let after = self.after {
            return "\(how) \(DurationText.format(after)) after the connection opened"
        }
        return "\(how) at the first byte"
    }

    public func effect(random: inout DecisionRandom) -> FaultEffect {
        if let bytes = self.afterBytes {
            return .sever(self.mode, trigger: .afterBytes(random.int(in: bytes)))
        }
        if let after = self.after {
            return .sever(self.mode, trigger: .afterTime(after))
        }
        return .sever(self.mode, trigger: .now)
    }
}
