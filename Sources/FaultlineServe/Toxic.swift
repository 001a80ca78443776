import FaultlineCore

/// One Toxiproxy toxic as its API reads and writes it:
///
///     {"attributes":{"latency":1000,"jitter":0},"name":"latency_downstream",
///      "type":"latency","stream":"downstream","toxicity":1}
///
/// The server keeps toxics in this form, so a client reads back exactly what it wrote
/// (attributes it left out read 0, unknown ones are dropped), and derives the faultline
/// rules from it (`ToxicMapping`) each time the proxy's plan is rebuilt.
package struct Toxic: Sendable, Equatable {
    package var name: String
    package var type: ToxicType
    package var stream: ToxicStream
    /// Chance, in [0, 1], that a connection gets this toxic (decided once per connection).
    package var toxicity: Float
    /// Values by attribute name, every one of `type.attributes` present.
    package var attributes: [String: Int64]

    package init(name: String? = nil, type: ToxicType, stream: ToxicStream = .downstream, toxicity: Float = 1, attributes: [String: Int64] = [:]) {
        self.name = name ?? "\(type.rawValue)_\(stream.rawValue)"
        self.type = type
        self.stream = stream
        self.toxicity = toxicity
        self.attributes = Dictionary(uniqueKeysWithValues: type.attributes.map { ($0, attributes[$0] ?? 0) })
    }

    package func attribute(_ key: String) -> Int64 {
        self.attributes[key] ?? 0
    }

    /// The response form, keys in Toxiproxy's order.
    package var json: JSONValue {
        .object([
            ("attributes", .object(self.type.attributes.map { ($0, .integer(self.attribute($0))) })),
            ("name", .string(self.name)),
            ("type", .string(self.type.rawValue)),
            ("stream", .string(self.stream.rawValue)),
            ("toxicity", .float(self.toxicity)),
        ])
    }
}

/// Which way a toxic acts: `upstream` is client to server, `downstream` server to client.
package enum ToxicStream: String, Sendable, CaseIterable {
    case upstream
    case downstream

    /// Toxiproxy parses the stream case-insensitively.
    package init?(parsing text: String) {
        self.init(rawValue: text.lowercased())
    }

    package var direction: DirectionMatch {
        switch self {
        case .upstream: .upstream
        case .downstream: .downstream
        }
    }
}

/// The toxic types of Toxiproxy 2.12, with their integer attributes in the order its
/// JSON lists them.
package enum ToxicType: String, Sendable, CaseIterable {
    case latency
    case bandwidth
    case slowClose = "slow_close"
    case timeout
    case resetPeer = "reset_peer"
    case slicer
    case limitData = "limit_data"
    case noop

    package var attributes: [String] {
        switch self {
        case .latency: ["latency", "jitter"]
        case .bandwidth: ["rate"]
        case .slowClose: ["delay"]
        case .timeout: ["timeout"]
        case .resetPeer: ["timeout"]
        case .slicer: ["average_size", "size_variation", "delay"]
        case .limitData: ["bytes"]
        case .noop: []
        }
    }

    /// The largest value an attribute may have, and the words for it, or nil when it has
    /// no bound. A time is at most `DurationText.maximum` (7 days), as in profiles:
    /// Toxiproxy takes any int64, but its Go arithmetic then wraps (a latency of 2^63 µs
    /// becomes negative). A `bandwidth` `rate` has none: above 2,147,483 KB/s it is
    /// taken as 2,147,483,647 bytes/s, faster than the proxy carries, so no limit.
    package func maximum(of attribute: String) -> (value: Int64, words: String)? {
        let seconds = DurationText.maximum.components.seconds
        switch (self, attribute) {
        case (.latency, "latency"), (.latency, "jitter"), (.slowClose, "delay"), (.timeout, "timeout"), (.resetPeer, "timeout"):
            return (seconds * 1000, "\(seconds * 1000) ms (\(DurationText.maximumText))")
        case (.slicer, "delay"):
            return (seconds * 1_000_000, "\(seconds * 1_000_000) µs (\(DurationText.maximumText))")
        default:
            return nil
        }
    }
}
