import FaultlineCore
import FaultlineFraming
import NIOCore
import Testing

/// Answers faultline writes in the server's place are what a server would send, and
/// frame as exactly one reply.
struct InjectedReplyEncoderTests {
    static let busy = InjectedReply(
        status: 503, headers: [MessageInfo.Header(name: "Retry-After", value: "2")], body: "try later"
    )

    @Test func anHTTPAnswerHasItsStatusHeadersAndLength() throws {
        let bytes = try #require(InjectedReplyEncoder.encode(Self.busy, framing: .http, request: MessageInfo(role: .request, method: "POST")))
        #expect(String(buffer: bytes) == "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 9\r\n\r\ntry later")
        // The response framer of the connection reads it as one whole reply.
        let (request, response) = HTTPFramer.pair()
        request.requestForwarded(MessageInfo(role: .request, method: "POST"))
        var framer = response
        var buffer = bytes
        guard case .message(let message, let info) = framer.decode(buffer: &buffer) else {
            Issue.record("the answer did not frame")
            return
        }
        #expect(message == bytes && info.status == 503 && buffer.readableBytes == 0)
    }

    @Test func headAnd204AnswersCarryNoBody() throws {
        let head = try #require(InjectedReplyEncoder.encode(Self.busy, framing: .http, request: MessageInfo(role: .request, method: "HEAD")))
        #expect(String(buffer: head).hasSuffix("Content-Length: 9\r\n\r\n"))
        let empty = try #require(InjectedReplyEncoder.encode(InjectedReply(status: 204, body: "x"), framing: .http, request: nil))
        #expect(String(buffer: empty) == "HTTP/1.1 204 No Content\r\n\r\n")
    }

    @Test func respLineAndLengthAnswers() throws {
        let error = InjectedReply(error: "ERR injected by faultline")
        #expect(InjectedReplyEncoder.encode(error, framing: .resp, request: nil).map { String(buffer: $0) } == "-ERR injected by faultline\r\n")
        let body = InjectedReply(body: "busy")
        #expect(InjectedReplyEncoder.encode(body, framing: .line, request: nil).map { String(buffer: $0) } == "busy\n")
        let little = try LengthPrefix(width: 2, endianness: .little, includesPrefix: true)
        let framed = try #require(InjectedReplyEncoder.encode(body, framing: .length(little), request: nil))
        #expect(Array(framed.readableBytesView) == [6, 0] + Array("busy".utf8))
        let byte = try LengthPrefix(width: 1)
        #expect(InjectedReplyEncoder.encode(InjectedReply(body: String(repeating: "x", count: 300)), framing: .length(byte), request: nil) == nil)
    }

    @Test func aReplyWithNothingForTheProtocolIsNotWritten() {
        #expect(InjectedReplyEncoder.encode(Self.busy, framing: .resp, request: nil) == nil)
        #expect(InjectedReplyEncoder.encode(InjectedReply(error: "ERR"), framing: .http, request: nil) == nil)
        #expect(Self.busy.problem(for: .resp) != nil && Self.busy.problem(for: .http) == nil)
    }
}
