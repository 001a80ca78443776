import Foundation

/// Reads the end of a proxy's event log (JSON Lines) without loading all of it.
enum EventTail {
    /// The last `limit` complete lines of `path` (of `type`, when given), and the
    /// offset just past the last complete line.
    static func last(_ limit: Int, of path: String, type: String?) -> (lines: [String], end: Int) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return ([], 0) }
        defer { try? handle.close() }
        let size = Int((try? handle.seekToEnd()) ?? 0)
        // Events are a few hundred bytes; read back far enough for `limit` of them, at
        // most 16 MiB (a filter by type may then find fewer).
        let window = min(size, max(65_536, min(limit * 2_048, 16 << 20)))
        try? handle.seek(toOffset: UInt64(size - window))
        let data = (try? handle.read(upToCount: window)) ?? Data()
        var text = String(decoding: data, as: UTF8.self)
        var end = size
        if !text.hasSuffix("\n"), let lastNewline = text.lastIndex(of: "\n") {
            end = size - text.utf8.distance(from: text.utf8.index(after: lastNewline), to: text.utf8.endIndex)
            text = String(text[...lastNewline])
        } else if !text.hasSuffix("\n") {
            return ([], size - data.count)
        }
        var lines = text.split(separator: "\n").map(String.init)
        if window < size, !lines.isEmpty { lines.removeFirst() }  // probably cut
        if let type { lines = lines.filter { Self.line($0, hasType: type) } }
        return (Array(lines.suffix(limit)), end)
    }

    /// Complete lines written after `offset`, and the offset past them.
    static func since(_ offset: Int, of path: String, type: String?) -> (lines: [String], end: Int) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return ([], offset) }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(offset))
        guard let data = try? handle.read(upToCount: 4 << 20), !data.isEmpty else { return ([], offset) }
        guard let lastNewline = data.lastIndex(of: 0x0A) else { return ([], offset) }
        let complete = data[data.startIndex...lastNewline]
        var lines = String(decoding: complete, as: UTF8.self).split(separator: "\n").map(String.init)
        if let type { lines = lines.filter { Self.line($0, hasType: type) } }
        return (lines, offset + complete.count)
    }

    static func line(_ line: String, hasType type: String) -> Bool {
        line.contains("\"type\":\"\(type)\"")
    }
}
