import Yams

/// `sever`: cut the connection with a reset, a FIN, or a half-close, at a byte offset
/// (fixed or drawn from a range, once per connection), after a time, or at once; on a
/// framed connection, at a point of the matched message (`at`, see `SeverPoint`).
///
///     fault: {kind: sever, mode: reset, after_bytes: {min: 100, max: 4000}}
///     fault: {kind: sever, mode: reset, at: first_reply_byte}
package struct SeverFault: Fault {
    package static let kind = "sever"
    package static let summary = "cut the connection (reset, fin or half-close) at a byte offset or after a time"
    package static let parameters = ["mode", "after_bytes", "after", "at"]
    /// Per message only on framed connections, at a point of each matched message.
    package static var scopes: [DecisionScope] { [.connection, .chunk, .message] }

    package var mode: SeverMode
    package var afterBytes: ClosedRange<Int>?
    package var after: Duration?
    /// Where in the matched message to cut; nil for a byte-stream sever.
    package var at: SeverPoint?

    package init(mode: SeverMode = .reset, afterBytes: ClosedRange<Int>? = nil, after: Duration? = nil, at: SeverPoint? = nil) {
        self.mode = mode
        self.afterBytes = afterBytes
        self.after = after
        self.at = at
    }

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        let mode = reader.optional(parameters, "mode") { reader.choice($0, what: "mode", as: SeverMode.self) }
        let bytes = reader.optional(parameters, "after_bytes") { reader.byteRange($0, what: "after_bytes") }
        let after = reader.optional(parameters, "after") { reader.duration($0, what: "after") }
        let at = reader.optional(parameters, "at") { reader.choice($0, what: "at (a point in the matched message)", as: SeverPoint.self) }
        if [parameters.has("after_bytes"), parameters.has("after"), parameters.has("at")].filter({ $0 }).count > 1 {
            reader.fail(parameters.key("at") ?? parameters.key("after"), "sever takes one of after_bytes, after or at")
            return nil
        }
        guard parameters["mode"] == nil || mode != nil, parameters["after_bytes"] == nil || bytes != nil,
            parameters["after"] == nil || after != nil, parameters["at"] == nil || at != nil
        else { return nil }
        self.init(mode: mode ?? .reset, afterBytes: bytes, after: after, at: at)
    }

    package var params: [String: String] {
        var params = ["mode": self.mode.rawValue]
        if let bytes = self.afterBytes {
            params["after_bytes"] = bytes.lowerBound == bytes.upperBound ? "\(bytes.lowerBound)" : "\(bytes.lowerBound)-\(bytes.upperBound)"
        }
        if let after = self.after { params["after"] = DurationText.format(after) }
        if let at = self.at { params["at"] = at.rawValue }
        return params
    }

    package var explanation: String {
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
        switch self.at {
        case .before?: return "\(how) before the message goes on"
        case .midMessage?: return "\(how) after the first half of the message went on"
        case .after?: return "\(how) once the whole message went on"
        case .firstReplyByte?:
            return "lets the request reach the server, then \(how) when the first byte of its reply arrives; the reply is discarded"
        case nil: return "\(how) at the first byte"
        }
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        if let at = self.at {
            return .message(.sever(self.mode, at: at))
        }
        if let bytes = self.afterBytes {
            return .sever(self.mode, trigger: .afterBytes(random.int(in: bytes)))
        }
        if let after = self.after {
            return .sever(self.mode, trigger: .afterTime(after))
        }
        return .sever(self.mode, trigger: .now)
    }
}

extension SeverFault: MessageFault {
    /// A sever acts on messages when it names a point in one.
    package var actsOnMessages: Bool { self.at != nil }
    package var requestsOnly: Bool { self.at == .firstReplyByte }
}
