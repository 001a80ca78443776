import FaultlineCore
import NIOCore
import Testing

@testable import FaultlineFraming

/// Runs a connection's two HTTP framers: all requests first, each forwarded as soon as
/// it is framed (as a server sees them before it answers), then all responses.
func frameHTTP(
    requests: [ByteBuffer],
    responses: [ByteBuffer],
    limits: FramingLimits = FramingLimits(),
    end: Bool = true
) -> (requests: FramingRun, responses: FramingRun) {
    var (request, response) = HTTPFramer.pair(limits: limits)
    let up = frame(&request, chunks: requests, end: end)
    for info in up.infos { request.requestForwarded(info) }
    let down = frame(&response, chunks: responses, end: end)
    return (up, down)
}

struct HTTPFramerTests {
    // MARK: Property

    /// One random exchange: a request and the response to it, each as written.
    static func randomExchange(
        using random: inout SplitMix64,
        last: Bool
    ) -> (request: ByteBuffer, response: ByteBuffer, method: String, status: Int) {
        let methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]
        let method = methods.randomElement(using: &random)!
        let path = "/" + String((0..<Int.random(in: 0...20, using: &random)).map { _ in "abc/?=&xyz".randomElement(using: &random)! })
        var request = "\(method) \(path) HTTP/1.1\r\nHost: example\r\n"
        if Bool.random(using: &random) { request += "Idempotency-Key: k\(random.next() % 1000)\r\n" }
        let body = Self.randomBody(using: &random)
        switch (method, Int.random(in: 0...2, using: &random)) {
        case ("GET", _), ("HEAD", _), (_, 0):
            request += "\r\n"
        case (_, 1):
            request += "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        default:
            request += "Transfer-Encoding: chunked\r\n\r\n" + Self.chunked(body, using: &random)
        }
        let statuses = [200, 201, 204, 304, 400, 404, 500, 503]
        let status = statuses.randomElement(using: &random)!
        var response = ""
        if Int.random(in: 0...4, using: &random) == 0 { response += "HTTP/1.1 100 Continue\r\n\r\n" }
        if Int.random(in: 0...6, using: &random) == 0 { response += "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" }
        response += "HTTP/1.1 \(status) Status\r\nServer: test\r\n"
        let replyBody = Self.randomBody(using: &random)
        let bodiless = method == "HEAD" || status == 204 || status == 304
        switch Int.random(in: 0...2, using: &random) {
        case 0:
            response += "Content-Length: \(replyBody.utf8.count)\r\n\r\n" + (bodiless ? "" : replyBody)
        case 1 where !bodiless:
            response += "Transfer-Encoding: chunked\r\n\r\n" + Self.chunked(replyBody, using: &random)
        case 2 where last && !bodiless:
            response += "\r\n" + replyBody  // read until close
        default:
            response += "Content-Length: 0\r\n\r\n"
        }
        return (ByteBuffer(string: request), ByteBuffer(string: response), method, status)
    }

    static func randomBody(using random: inout SplitMix64) -> String {
        let count = Int.random(in: 0...300, using: &random)
        return String((0..<count).map { _ in "abcdefgh\r\n0123:;".randomElement(using: &random)! })
    }

    static func chunked(_ body: String, using random: inout SplitMix64) -> String {
        var rest = Substring(body)
        var out = ""
        while !rest.isEmpty {
            let size = min(rest.utf8.count, Int.random(in: 1...64, using: &random))
            let piece = rest.prefix(size)
            rest = rest.dropFirst(size)
            let ext = Bool.random(using: &random) ? ";name=value" : ""
            out += String(piece.utf8.count, radix: 16, uppercase: Bool.random(using: &random)) + ext + "\r\n" + piece + "\r\n"
        }
        out += "0\r\n"
        if Bool.random(using: &random) { out += "Checksum: abc\r\nX-Trailer: 1\r\n" }
        return out + "\r\n"
    }

    /// Pipelined random requests and their responses, split at random points: the
    /// framers find exactly the messages written, with their methods and statuses.
    @Test(arguments: 0..<60)
    func randomExchangesAnySplitKeepBoundaries(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed))
        let count = Int.random(in: 1...8, using: &random)
        var exchanges: [(request: ByteBuffer, response: ByteBuffer, method: String, status: Int)] = []
        for index in 0..<count { exchanges.append(Self.randomExchange(using: &random, last: index == count - 1)) }
        let requests = concatenated(exchanges.map(\.request))
        let responses = concatenated(exchanges.map(\.response))
        let run = frameHTTP(requests: requests.randomChunks(using: &random), responses: responses.randomChunks(using: &random))
        #expect(run.requests.fallback == nil)
        #expect(run.requests.messages.map(\.bytes) == exchanges.map(\.request))
        #expect(run.requests.infos.map(\.method) == exchanges.map(\.method))
        #expect(run.requests.forwarded == requests)
        #expect(run.responses.fallback == nil)
        #expect(run.responses.forwarded == responses)
        let finals = run.responses.infos.filter { ($0.status ?? 0) >= 200 }
        #expect(finals.map(\.status) == exchanges.map(\.status))
        #expect(finals.map(\.method) == exchanges.map(\.method))
        #expect(concatenated(run.responses.messages.map(\.bytes)) == responses)
    }

    // MARK: Cases

    @Test func pipelinedKeepAliveRequestsAreSeparateMessagesWithTheirFacts() throws {
        let run = frameHTTP(
            requests: [
                buffer(
                    "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
                    "POST /orders HTTP/1.1\r\nHost: h\r\nIdempotency-Key: abc-123\r\nContent-Length: 5\r\n\r\nhello",
                    "DELETE /a HTTP/1.1\r\n\r\n"
                )
            ],
            responses: [
                buffer(
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
                    "HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy"
                )
            ]
        )
        let requests = run.requests.infos
        #expect(requests.map(\.method) == ["GET", "POST", "DELETE"])
        #expect(requests.map(\.path) == ["/a?x=1", "/orders", "/a"])
        #expect(requests.map(\.idempotencyKey) == [nil, "abc-123", nil])
        #expect(requests.allSatisfy { $0.role == .request && $0.fingerprint?.count == 32 })
        #expect(requests[1].header("content-length") == "5")
        let responses = run.responses.infos
        #expect(responses.map(\.status) == [200, 201, 503])
        #expect(responses.map(\.method) == ["GET", "POST", "DELETE"])
        #expect(responses[1].idempotencyKey == "abc-123")
        #expect(responses[1].fingerprint == requests[1].fingerprint)
        #expect(responses[2].header("Retry-After") == "1")
    }

    @Test func chunkedBodiesWithExtensionsAndTrailersEndAfterTheTrailers() {
        let message = "POST /up HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
            + "5;ext=1\r\nhello\r\n1A\r\n" + String(repeating: "z", count: 26) + "\r\n0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n"
        let run = frameHTTP(requests: [buffer(message, "GET /next HTTP/1.1\r\n\r\n")], responses: [])
        #expect(run.requests.lengths == [message.utf8.count, 22])
        #expect(run.requests.fallback == nil)
    }

    /// The fingerprint is part of the log format: SHA-256 over method, NUL, target, NUL,
    /// body; its first 32 hex digits. Pinned so a change is a decision, not an accident.
    @Test func theFingerprintIsPinned() {
        let run = frameHTTP(
            requests: [buffer("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "POST /orders HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"qty\": 3}")],
            responses: []
        )
        #expect(run.requests.infos.map(\.fingerprint) == ["f338a2974553c092dcaf5a70baab0819", "027b00e0c659fbf9a19e2af8d0ea856e"])
        var resp = RESPFramer(role: .request)
        #expect(frame(&resp, chunks: [buffer("*1\r\n$4\r\nPING\r\n")]).infos.first?.fingerprint == "a43cb6a3b9d261112714d00e36b33106")
    }

    @Test func theFingerprintIgnoresChunkingButNotTheBody() {
        let fixed = "PUT /k HTTP/1.1\r\nContent-Length: 10\r\n\r\nhelloworld"
        let chunked = "PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n7\r\nloworld\r\n0\r\n\r\n"
        let other = "PUT /k HTTP/1.1\r\nContent-Length: 10\r\n\r\nhelloWORLD"
        let prints = frameHTTP(requests: [buffer(fixed, chunked, other)], responses: []).requests.infos.map(\.fingerprint)
        #expect(prints.count == 3)
        #expect(prints[0] == prints[1])
        #expect(prints[0] != prints[2])
    }

    @Test func responsesToHeadHaveNoBodyEvenWithAContentLength() {
        let run = frameHTTP(
            requests: [buffer("HEAD /big HTTP/1.1\r\n\r\nGET /small HTTP/1.1\r\n\r\n")],
            responses: [buffer("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")]
        )
        #expect(run.responses.lengths == [41, 40])
        #expect(run.responses.infos.map(\.method) == ["HEAD", "GET"])
    }

    @Test(arguments: [204, 304])
    func noContentAndNotModifiedHaveNoBody(status: Int) {
        let head = "HTTP/1.1 \(status) X\r\nContent-Length: 7\r\n\r\n"
        let run = frameHTTP(
            requests: [buffer("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")],
            responses: [buffer(head, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")]
        )
        #expect(run.responses.lengths == [head.utf8.count, 41])
        #expect(run.responses.infos.map(\.status) == [status, 200])
    }

    @Test func interimResponsesAreMessagesThatDoNotAnswerTheRequest() {
        let run = frameHTTP(
            requests: [buffer("POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", "GET /b HTTP/1.1\r\n\r\n")],
            responses: [
                buffer(
                    "HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 102 Processing\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 404 No\r\nContent-Length: 0\r\n\r\n"
                )
            ]
        )
        #expect(run.responses.infos.map(\.status) == [100, 102, 200, 404])
        #expect(run.responses.infos.map(\.method) == ["POST", "POST", "POST", "GET"])
    }

    @Test func upgradeSwitchesBothDirectionsToRawAfterTheHandshake() {
        let request = "GET /chat HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        let frames = "\u{81}\u{05}hello GET / HTTP/1.1\r\n\r\n"
        let run = frameHTTP(requests: [buffer(request, frames)], responses: [buffer(response, frames)])
        #expect(run.requests.lengths == [request.utf8.count])
        #expect(run.requests.fallback?.contains("Upgrade: websocket") == true)
        #expect(String(buffer: run.requests.raw) == frames)
        #expect(run.responses.lengths == [response.utf8.count])
        #expect(run.responses.fallback?.contains("101") == true)
        #expect(String(buffer: run.responses.raw) == frames)
    }

    @Test func connectMakesATunnel() {
        let run = frameHTTP(
            requests: [buffer("CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n", "\u{16}\u{03}\u{01}tls bytes")],
            responses: [buffer("HTTP/1.1 200 Connection Established\r\n\r\n", "\u{16}\u{03}\u{03}more")]
        )
        #expect(run.requests.infos.map(\.method) == ["CONNECT"])
        #expect(run.requests.raw.readableBytes == 12)
        #expect(run.responses.infos.map(\.status) == [200])
        #expect(run.responses.fallback?.contains("tunnel") == true)
        #expect(run.responses.raw.readableBytes == 7)
    }

    @Test func aResponseWithoutLengthIsReadUntilTheConnectionCloses() {
        let response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this\r\n\r\nuntil close"
        var random = SplitMix64(seed: 1)
        let run = frameHTTP(requests: [buffer("GET / HTTP/1.0\r\n\r\n")], responses: ByteBuffer(string: response).randomChunks(using: &random))
        #expect(run.responses.lengths == [response.utf8.count])
        #expect(run.responses.fallback == nil)
        let open = frameHTTP(requests: [buffer("GET / HTTP/1.0\r\n\r\n")], responses: [buffer(response)], end: false)
        #expect(open.responses.messages.isEmpty, "not a message until the close")
    }

    @Test func aResponseReadUntilCloseOverTheLimitFallsBack() {
        let body = String(repeating: "b", count: 5000)
        let run = frameHTTP(
            requests: [buffer("GET / HTTP/1.0\r\n\r\n")],
            responses: [buffer("HTTP/1.0 200 OK\r\n\r\n", body)],
            limits: FramingLimits(maxMessageBytes: 4096)
        )
        #expect(run.responses.messages.isEmpty)
        #expect(run.responses.fallback?.contains("read until close exceeds") == true)
        #expect(String(buffer: run.responses.forwarded) == "HTTP/1.0 200 OK\r\n\r\n" + body)
    }

    @Test func leadingEmptyLinesBelongToTheNextRequest() {
        let run = frameHTTP(requests: [buffer("GET /a HTTP/1.1\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n")], responses: [])
        #expect(run.requests.lengths == [19, 21])
        #expect(run.requests.infos.map(\.path) == ["/a", "/b"])
    }

    /// A request a fault keeps from the server is never queued: the next reply pairs with
    /// the request the server did get (here a HEAD, whose reply has no body).
    @Test func repliesPairWithTheRequestsReallyForwarded() {
        var (request, response) = HTTPFramer.pair()
        let up = frame(&request, chunks: [buffer("GET /dropped HTTP/1.1\r\n\r\nHEAD /kept HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n")])
        #expect(up.infos.map(\.path) == ["/dropped", "/kept", "/next"])
        request.requestForwarded(up.infos[1])
        request.requestForwarded(up.infos[2])
        let down = frame(&response, chunks: [buffer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")])
        #expect(down.fallback == nil)
        #expect(down.infos.map(\.path) == ["/kept", "/next"])
        #expect(down.lengths == [38, 43])
    }

    @Test func anUnsolicitedResponseIsFramedAsAnswerToNothing() {
        let run = frameHTTP(requests: [], responses: [buffer("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")])
        #expect(run.responses.infos.map(\.status) == [408])
        #expect(run.responses.infos.first?.method == nil)
    }

    @Test func afterTheRequestSideFallsBackResponsesStopOnceTheQueueIsEmpty() {
        let run = frameHTTP(
            requests: [buffer("GET /a HTTP/1.1\r\n\r\n", "\u{0}\u{1}garbage")],
            responses: [buffer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]
        )
        #expect(run.requests.fallback != nil)
        #expect(run.responses.lengths == [38])
        #expect(run.responses.fallback?.contains("request direction is raw") == true)
        #expect(run.responses.raw.readableBytes == 38)
    }
}
