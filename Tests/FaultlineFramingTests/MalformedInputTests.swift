import FaultlineCore
import NIOCore
import Testing

@testable import FaultlineFraming

/// Bytes that are not the protocol, or exceed a limit: each must make the framer give
/// up with a reason, never crash, and leave every byte to be forwarded in order.
struct MalformedInputTests {
    enum Which: String, Sendable {
        case httpRequest, httpResponse, resp, respReply, line, length
    }

    static let tlsClientHello = "\u{16}\u{03}\u{01}\u{02}\u{00}\u{01}\u{00}\u{01}\u{fc}\u{03}\u{03}"

    static let corpus: [(String, Which, String)] = [
        ("TLS ClientHello to HTTP", .httpRequest, tlsClientHello),
        ("binary zeros", .httpRequest, "\u{0}\u{0}\u{0}\u{0}"),
        ("HTTP/2 prior knowledge", .httpRequest, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("SSH banner", .httpRequest, "SSH-2.0-OpenSSH_9.6\r\n"),
        ("no version", .httpRequest, "GET /\r\n\r\n"),
        ("header without colon", .httpRequest, "GET / HTTP/1.1\r\nHost example\r\n\r\n"),
        ("obsolete line folding", .httpRequest, "GET / HTTP/1.1\r\nX-A: 1\r\n  continued\r\n\r\n"),
        ("two Content-Lengths", .httpRequest, "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
        ("Content-Length not a number", .httpRequest, "POST / HTTP/1.1\r\nContent-Length: 3x\r\n\r\nabc"),
        ("negative Content-Length", .httpRequest, "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
        ("request coding not chunked", .httpRequest, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxx"),
        ("chunk size not hex", .httpRequest, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ("chunk data without CRLF", .httpRequest, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n"),
        ("chunk size overflow", .httpRequest, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n"),
        ("chunk over the message limit", .httpRequest, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\nabc"),
        ("trailers over the header limit", .httpResponse, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + String(repeating: "t", count: 70_000) + "\r\n\r\n"),
        ("aggregate count over the limit", .resp, "*99999999999\r\n"),
        ("control byte in target", .httpRequest, "GET /a\u{1}b HTTP/1.1\r\n\r\n"),
        ("body over the message limit", .httpRequest, "POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\nabc"),
        ("head over the header limit", .httpRequest, "GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 70_000) + "\r\n\r\n"),
        ("endless start line", .httpRequest, "GET /" + String(repeating: "a", count: 70_000)),
        ("status line from a request", .httpRequest, "HTTP/1.1 200 OK\r\n\r\n"),
        ("not HTTP reply", .httpResponse, "+OK\r\n"),
        ("HTTP/9 reply", .httpResponse, "HTTP/9.9 200 OK\r\n\r\n"),
        ("status not three digits", .httpResponse, "HTTP/1.1 20 OK\r\n\r\n"),
        ("request line from a server", .httpResponse, "GET / HTTP/1.1\r\n\r\n"),
        ("bad trailer", .httpResponse, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon here\r\n\r\n"),
        ("TLS ClientHello to Redis", .resp, tlsClientHello),
        ("bulk length not a number", .resp, "$abc\r\nxyz\r\n"),
        ("negative bulk length", .resp, "$-5\r\n"),
        ("bulk without CRLF after", .resp, "*1\r\n$3\r\nabcd\r\n"),
        ("array length garbage", .resp, "*x\r\n"),
        ("type line without CR", .resp, "*1\n$4\r\nPING\r\n"),
        ("huge bulk", .resp, "$99999999999\r\n"),
        ("nesting too deep", .resp, String(repeating: "*1\r\n", count: 300) + ":1\r\n"),
        ("end marker outside a stream", .respReply, ".\r\n"),
        ("boolean not t or f", .respReply, "#x\r\n"),
        ("inline text as a reply", .respReply, "hello\r\n"),
        ("streamed part without ;", .respReply, "$?\r\n:1\r\n"),
        ("line over the limit", .line, String(repeating: "x", count: 2000)),
        ("length over the limit", .length, "\u{7f}\u{ff}\u{ff}\u{ff}abc"),
    ]

    static func framer(_ which: Which) -> any MessageFramer {
        let limits = FramingLimits(maxHeaderBytes: 64 * 1024, maxMessageBytes: 1024 * 1024)
        switch which {
        case .httpRequest: return HTTPFramer.pair(limits: limits).request
        case .httpResponse:
            let (request, response) = HTTPFramer.pair(limits: limits)
            var requests = request
            var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n")
            if case .message(_, let info) = requests.decode(buffer: &buffer) { requests.requestForwarded(info) }
            return response
        case .resp: return RESPFramer(role: .request, limits: limits)
        case .respReply: return RESPFramer(role: .response, limits: limits)
        case .line: return LineFramer(role: .request, limits: FramingLimits(maxMessageBytes: 1000))
        case .length: return LengthFramer(prefix: try! LengthPrefix(width: 4), role: .request, limits: limits)
        }
    }

    @Test(arguments: corpus)
    func fallsBackWithAReasonAndForwardsEveryByte(name: String, which: Which, text: String) {
        let input = buffer(text, "\r\ntrailing bytes after the garbage\r\n")
        for seed in 0..<5 {
            var random = SplitMix64(seed: UInt64(seed))
            var framer = Self.framer(which)
            let run = frame(&framer, chunks: seed == 0 ? [input] : input.randomChunks(using: &random), end: false)
            #expect(run.fallback != nil, "\(name): no fallback")
            #expect(run.forwarded == input, "\(name): bytes changed or lost")
        }
    }

    /// Garbage that cannot become a valid message gives up at its first bytes instead
    /// of waiting for a newline that may never come (a TLS client waits for the server).
    @Test(arguments: [Which.httpRequest, .httpResponse, .resp, .respReply])
    func binaryGarbageFallsBackBeforeAnyNewline(which: Which) {
        var framer = Self.framer(which)
        let run = frame(&framer, chunks: [buffer(Self.tlsClientHello)], end: false)
        #expect(run.fallback != nil)
        #expect(run.raw.readableBytes == ByteBuffer(string: Self.tlsClientHello).readableBytes)
    }

    /// Random bytes, random splits, every framer: no crash, and every byte comes out.
    @Test(arguments: 0..<30)
    func randomBytesNeverCrashAndAreAllForwarded(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed) + 500)
        var input = ByteBuffer()
        for _ in 0..<Int.random(in: 0...3000, using: &random) {
            input.writeInteger(Bool.random(using: &random) ? UInt8.random(in: 0...255, using: &random) : Array("*$:+\r\n0123GET HTTP/1.1".utf8).randomElement(using: &random)!)
        }
        for which in [Which.httpRequest, .httpResponse, .resp, .respReply, .line, .length] {
            var framer = Self.framer(which)
            let run = frame(&framer, chunks: input.randomChunks(using: &random))
            #expect(run.forwarded == input, "\(which)")
        }
    }
}
