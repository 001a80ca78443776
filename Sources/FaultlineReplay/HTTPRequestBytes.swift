import Foundation

/// One HTTP/1.1 request's bytes, split so replay can change a header or the body and
/// put the rest back exactly as recorded.
///
///     POST /a HTTP/1.1\r\n              startLine
///     Idempotency-Key: "k1"\r\n         headerLines (as recorded, in order)
///     Content-Length: 12\r\n
///     \r\n
///     {"amount":5}                      body
///
/// Only what is asked changes: a header's value, a header removed, or the body (then
/// `Content-Length` is set to the new length, and nothing else moves).
struct HTTPRequestBytes: Sendable, Equatable {
    var startLine: String
    var headerLines: [String]
    var body: [UInt8]

    /// Nil when `bytes` hold no complete head.
    init?(_ bytes: [UInt8]) {
        guard let end = Self.headEnd(bytes) else { return nil }
        let head = String(decoding: bytes[..<end.head], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        guard !lines.isEmpty, !lines[0].isEmpty else { return nil }
        self.startLine = lines.removeFirst()
        self.headerLines = lines.filter { !$0.isEmpty }
        self.body = Array(bytes[end.body...])
    }

    init(startLine: String, headerLines: [String], body: [UInt8] = []) {
        self.startLine = startLine
        self.headerLines = headerLines
        self.body = body
    }

    /// Where the head's text ends (before `\r\n\r\n`) and the body starts.
    private static func headEnd(_ bytes: [UInt8]) -> (head: Int, body: Int)? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return (index, index + 4)
        }
        return nil
    }

    var method: String {
        String(self.startLine.split(separator: " ").first ?? "")
    }

    var target: String {
        let parts = self.startLine.split(separator: " ")
        return parts.count > 1 ? String(parts[1]) : "/"
    }

    var bytes: [UInt8] {
        var text = self.startLine + "\r\n"
        for line in self.headerLines { text += line + "\r\n" }
        text += "\r\n"
        return Array(text.utf8) + self.body
    }

    /// The value of the first header called `name` (any case), without surrounding blanks.
    func header(_ name: String) -> String? {
        self.headerIndex(name).map { Self.value(of: self.headerLines[$0]) }
    }

    var isChunked: Bool {
        self.header("Transfer-Encoding")?.lowercased().contains("chunked") ?? false
    }

    private func headerIndex(_ name: String) -> Int? {
        let wanted = name.lowercased()
        return self.headerLines.firstIndex { line in
            guard let colon = line.firstIndex(of: ":") else { return false }
            return line[..<colon].trimmingCharacters(in: .whitespaces).lowercased() == wanted
        }
    }

    private static func value(of line: String) -> String {
        guard let colon = line.firstIndex(of: ":") else { return "" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }

    /// The same request with header `name` set to `value` (the name as recorded).
    func settingHeader(_ name: String, to value: String) -> HTTPRequestBytes {
        var copy = self
        if let index = self.headerIndex(name) {
            let line = self.headerLines[index]
            let recordedName = line[..<line.firstIndex(of: ":")!]
            copy.headerLines[index] = "\(recordedName): \(value)"
        } else {
            copy.headerLines.append("\(name): \(value)")
        }
        return copy
    }

    /// The same request without any header called `name`.
    func removingHeader(_ name: String) -> HTTPRequestBytes {
        var copy = self
        while let index = copy.headerIndex(name) { copy.headerLines.remove(at: index) }
        return copy
    }

    /// The same request with another body, `Content-Length` set to its length.
    func replacingBody(_ body: [UInt8]) -> HTTPRequestBytes {
        var copy = self.settingHeader("Content-Length", to: String(body.count))
        copy.body = body
        return copy
    }
}
