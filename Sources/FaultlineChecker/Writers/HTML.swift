/// Small pieces the HTML report and its timeline share: numbers for SVG attributes,
/// anchors, colours.
enum HTML {
    /// A coordinate with at most one decimal: `12`, `12.5`. Cheap: it runs for every mark.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let tenths = Int64(min(max((value * 10).rounded(), -9e18), 9e18))
        let sign = tenths < 0 ? "-" : ""
        let magnitude = tenths.magnitude
        return magnitude % 10 == 0 ? "\(sign)\(magnitude / 10)" : "\(sign)\(magnitude / 10).\(magnitude % 10)"
    }

    /// `id` as an HTML id / URL fragment: `[A-Za-z0-9_.-]` kept, anything else as `_XX`
    /// per UTF-8 byte (`_` itself as `_5F`), so the mapping is one-to-one and needs no
    /// further escaping in an attribute or an `href`.
    static func anchor(_ id: String) -> String {
        var out = ""
        out.reserveCapacity(id.utf8.count)
        let hex = Array("0123456789ABCDEF")
        for byte in id.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out.append("_")
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            }
        }
        return out
    }

    /// At most `limit` characters, with `…` when cut.
    static func truncated(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    /// The CSS class that colours an attempt mark.
    static func outcomeClass(_ outcome: CheckReport.Outcome) -> String {
        switch outcome {
        case .answered: "oa"
        case .answeredByProxy: "op"
        case .notApplied: "on"
        case .ambiguous: "om"
        case .clientGaveUp: "og"
        case .reset, .refused: "or"
        case .unknown: "ou"
        }
    }

    /// Outcome colours, for the CSS and the legend: answered green, answered by the proxy
    /// teal, not applied grey, ambiguous orange, client gave up purple, reset and refused
    /// red, unknown light grey.
    static func outcomeColour(_ outcome: CheckReport.Outcome) -> String {
        switch outcome {
        case .answered: "#2f9e44"
        case .answeredByProxy: "#0c8599"
        case .notApplied: "#868e96"
        case .ambiguous: "#f08c00"
        case .clientGaveUp: "#7048e8"
        case .reset, .refused: "#e03131"
        case .unknown: "#ced4da"
        }
    }

    /// A colour per fault kind (`delay`, `sever`...); a kind this build does not know gets
    /// one from a small palette by a stable hash of its name.
    static func faultColour(_ kind: String) -> String {
        switch kind {
        case "delay": return "#1c7ed6"
        case "bandwidth": return "#4dabf7"
        case "slice": return "#15aabf"
        case "hang": return "#364fc7"
        case "blackhole": return "#343a40"
        case "sever": return "#c92a2a"
        case "refuse": return "#862e9c"
        case "drop": return "#a0522d"
        case "respond": return "#0b7285"
        case "duplicate": return "#d6336c"
        case "reorder": return "#ae3ec9"
        case "corrupt": return "#e67700"
        case "loss": return "#795548"
        case "rate": return "#5c7cfa"
        default:
            let palette = ["#5f3dc4", "#087f5b", "#d9480f", "#1864ab", "#a61e4d", "#5c940d"]
            var hash: UInt32 = 2_166_136_261
            for byte in kind.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
            return palette[Int(hash % UInt32(palette.count))]
        }
    }
}
