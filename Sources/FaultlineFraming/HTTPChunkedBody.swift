/// The data of a chunked HTTP body, without its framing: what a reader of the message
/// gets, for code that compares or parses bodies rather than forwarding them.
///
///     "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"   →   "hello world"
///
/// Chunk-size lines are read by `HTTPFramer.chunkSize`, so this accepts what the framer
/// accepts (extensions after `;`, a bare LF for CRLF); the trailers are dropped.
package enum HTTPChunkedBody {
    /// The chunks' data joined; nil when `body` is not a whole, well-formed chunked body.
    package static func decode(_ body: [UInt8]) -> [UInt8]? {
        var data: [UInt8] = []
        var index = 0
        while true {
            guard let newline = body[index...].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
            var line = body[index..<newline]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            guard let size = HTTPFramer.chunkSize(Array(line)) else { return nil }
            index = newline + 1
            if size == 0 { return data }
            guard size <= body.count - index else { return nil }
            data += body[index..<(index + size)]
            index += size
            if body[index...].starts(with: [13, 10]) {
                index += 2
            } else if body[index...].first == 10 {
                index += 1
            } else {
                return nil
            }
        }
    }

    /// Whether `Transfer-Encoding` values (`gzip, chunked`) end in chunked: then the
    /// body is framed in chunks (RFC 9112 §6.1).
    package static func isChunked(transferEncoding values: [String]) -> Bool {
        let codings = values.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingSpaces.lowercased() }
            .filter { !$0.isEmpty }
        return codings.last == "chunked"
    }
}
