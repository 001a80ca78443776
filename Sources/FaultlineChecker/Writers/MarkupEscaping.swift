/// Escaping for XML 1.0 and HTML text and attribute values.
///
/// Operation names, keys and client names come from traffic: treat them as hostile.
/// `&`, `<`, `>`, `"` and `'` become entities, and characters XML 1.0 forbids (C0 controls
/// other than tab, line feed and carriage return; U+FFFE, U+FFFF) are dropped, so the
/// result parses whatever the log held. Swift strings hold no lone surrogates, so every
/// other scalar is allowed as is.
enum MarkupEscaping {
    /// `text` for an element's content or a quoted attribute value.
    static func escape(_ text: String) -> String {
        // Fast path: most names need nothing.
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<")
            || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") || $0 == 0xEF })
        else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        Self.append(text, to: &out, attribute: false)
        return out
    }

    /// `text` for a quoted attribute value: as `escape`, and line breaks and tabs as
    /// character references so attribute normalisation keeps them.
    static func attribute(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        Self.append(text, to: &out, attribute: true)
        return out
    }

    /// Appends `text`, escaped, to `out` (no intermediate string).
    static func append(_ text: String, to out: inout String, attribute: Bool = false) {
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x26: out += "&amp;"
            case 0x3C: out += "&lt;"
            case 0x3E: out += "&gt;"
            case 0x22: out += "&quot;"
            case 0x27: out += "&#39;"
            case 0x09: out += attribute ? "&#9;" : "\t"
            case 0x0A: out += attribute ? "&#10;" : "\n"
            case 0x0D: out += attribute ? "&#13;" : "\r"
            case 0..<0x20, 0xFFFE, 0xFFFF: continue
            default: out.unicodeScalars.append(scalar)
            }
        }
    }
}
