/// A RESP command as its words: `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n` ↔ `SET k v`.
///
/// Clients send commands as arrays of bulk strings (RESP2 and RESP3 alike); an inline
/// command (`PING\r\n`) is split on blanks.
enum RESPCommand {
    /// The words of the command in `bytes`, or nil when they are not one command.
    static func words(_ bytes: [UInt8]) -> [String]? {
        guard let first = bytes.first else { return nil }
        guard first == UInt8(ascii: "*") else {
            let line = String(decoding: bytes, as: UTF8.self).trimmingSuffixNewline()
            let words = line.split(separator: " ").map(String.init)
            return words.isEmpty ? nil : words
        }
        var index = 1
        guard let count = Self.integerLine(bytes, &index), count >= 0 else { return nil }
        var words: [String] = []
        for _ in 0..<count {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "$") else { return nil }
            index += 1
            guard let length = Self.integerLine(bytes, &index), length >= 0, index + length + 2 <= bytes.count else {
                return nil
            }
            words.append(String(decoding: bytes[index..<index + length], as: UTF8.self))
            index += length + 2
        }
        return words
    }

    /// `words` as a RESP array of bulk strings.
    static func encode(_ words: [String]) -> [UInt8] {
        var out = Array("*\(words.count)\r\n".utf8)
        for word in words {
            let bytes = Array(word.utf8)
            out += Array("$\(bytes.count)\r\n".utf8) + bytes + [13, 10]
        }
        return out
    }

    /// Reads digits (and a sign) up to `\r\n` from `index`, leaving `index` after it.
    private static func integerLine(_ bytes: [UInt8], _ index: inout Int) -> Int? {
        var end = index
        while end + 1 < bytes.count, !(bytes[end] == 13 && bytes[end + 1] == 10) { end += 1 }
        guard end + 1 < bytes.count else { return nil }
        let value = Int(String(decoding: bytes[index..<end], as: UTF8.self))
        index = end + 2
        return value
    }
}

extension String {
    func trimmingSuffixNewline() -> String {
        var text = Substring(self)
        while let last = text.last, last == "\n" || last == "\r" { text = text.dropLast() }
        return String(text)
    }
}
