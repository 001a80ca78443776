import FaultlineCore
import FaultlineFraming

extension ReplayReply {
    /// A whole HTTP reply, its body as the service meant it: the bytes after the head
    /// with the chunked framing removed (trailers dropped) and the `Content-Encoding`
    /// (gzip, deflate) undone. JSON, numbers and ids are read from that body, so a
    /// chunk-size line or compressed bytes never pass for content.
    ///
    /// A body that does not de-chunk or decode is kept as received, and `note` says so:
    /// the evidence of any rule that compared it carries the note.
    static func http(_ bytes: [UInt8], status: Int?, headers: [MessageInfo.Header]) -> ReplayReply {
        var reply = ReplayReply(bytes: bytes, status: status, headers: headers, body: Self.afterHead(bytes))
        let transferEncoding = reply.headers(named: "Transfer-Encoding")
        if HTTPChunkedBody.isChunked(transferEncoding: transferEncoding) {
            if let data = HTTPChunkedBody.decode(reply.body) {
                reply.body = data
            } else {
                reply.note = "a chunked reply body did not de-chunk: compared as received"
                return reply
            }
        }
        let contentEncoding = reply.headers(named: "Content-Encoding")
        if !contentEncoding.isEmpty {
            do {
                reply.body = try ContentDecoding.decode(reply.body, contentEncoding: contentEncoding)
            } catch {
                reply.note = "a reply body did not decode (\(error)): compared as received"
            }
        }
        return reply
    }

    /// Every value of the header `name`, in order.
    func headers(named name: String) -> [String] {
        let wanted = name.lowercased()
        return self.headers.filter { $0.name.lowercased() == wanted }.map(\.value)
    }

    /// The bytes after the blank line that ends the head; none when there is none.
    private static func afterHead(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= 4 else { return [] }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return Array(bytes[(index + 4)...])
        }
        return []
    }
}
