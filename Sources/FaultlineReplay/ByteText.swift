import FaultlineCore

/// Bytes from the wire as text a person can read in a terminal or a report: CRLF line
/// ends shown as line breaks, other control bytes and non-ASCII as `\xNN`, long messages
/// cut with the count of what was left out.
enum ByteText {
    static func describe(_ bytes: [UInt8], limit: Int = 2_048) -> String {
        var out = ""
        var index = 0
        while index < bytes.count, out.utf8.count < limit {
            let byte = bytes[index]
            if byte == 13, index + 1 < bytes.count, bytes[index + 1] == 10 {
                out += "\n"
                index += 2
                continue
            }
            switch byte {
            case 0x0A: out += "\n"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(byte))
            default: out += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            }
            index += 1
        }
        if index < bytes.count { out += "… (\(bytes.count - index) more bytes)" }
        return out
    }

    /// All of `bytes` on one line, cut at `limit` characters: CR and LF as `\r` and
    /// `\n`, other control bytes and non-ASCII as `\xNN`; trailing line ends and blanks
    /// dropped. For a reply body or a probe's reading in evidence and progress lines.
    static func oneLine(_ bytes: [UInt8], limit: Int = 2_048) -> String {
        var end = bytes.count
        while end > 0, [9, 10, 13, 32].contains(bytes[end - 1]) { end -= 1 }
        var out = ""
        var index = 0
        while index < end, out.utf8.count < limit {
            let byte = bytes[index]
            switch byte {
            case 0x0D: out += "\\r"
            case 0x0A: out += "\\n"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(byte))
            default: out += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            }
            index += 1
        }
        if index < end { out += "… (\(end - index) more bytes)" }
        return out
    }

    /// `text` with every control character written as `\xNN` (CR and LF as `\r` and
    /// `\n`), so text from traffic in a progress line on standard error can never move
    /// the cursor or colour the terminal.
    static func escapingControls(_ text: String) -> String {
        text.escapingControls()
    }

    /// The first line only, for progress and one-line evidence.
    static func firstLine(_ bytes: [UInt8]) -> String {
        let line = bytes.prefix { $0 != 13 && $0 != 10 }.prefix(120)
        return Self.describe(Array(line))
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - self.count)) + self
    }
}
