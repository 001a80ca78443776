import FaultlineCore
import NIOCore
import Testing

@testable import FaultlineFraming

/// The one queue that pairs a connection's requests and replies: for the HTTP framer,
/// the log and the message stages.
struct ExchangeTests {
    static func request(_ unit: UInt64, command: String? = nil, path: String? = nil) -> FramedMessage {
        FramedMessage(bytes: ByteBuffer(string: "x"), info: MessageInfo(role: .request, path: path, command: command), unit: unit)
    }

    /// Frames a final reply as the framing handler does and returns the request unit it
    /// was stamped with.
    static func reply(_ exchange: Exchange, bytes: String = "+OK\r\n") -> UInt64? {
        var info = MessageInfo(role: .response)
        exchange.framed(&info, firstMono: 0, now: 0, bytes: ByteBuffer(string: bytes))
        return info.requestUnit
    }

    @Test func repliesAnswerTheRequestsTheServerGotInOrder() {
        let exchange = Exchange(framing: .line)
        exchange.requestForwarded(Self.request(0))
        exchange.requestForwarded(Self.request(2))  // unit 1 was dropped: never queued
        #expect(exchange.awaited?.unit == 0)
        #expect(Self.reply(exchange) == 0)
        #expect(exchange.lastAnswered?.unit == 0)
        #expect(Self.reply(exchange) == 2)
        #expect(Self.reply(exchange) == nil, "an unsolicited reply answers nothing")
        #expect(exchange.lastAnswered == nil)
    }

    @Test func anAnswerWaitsBehindTheRepliesStillOwedAndIsDueAfterTheLastOne() {
        let exchange = Exchange(framing: .line)
        #expect(exchange.inject(ByteBuffer(string: "now")) == ByteBuffer(string: "now"), "nothing owed: it goes at once")
        exchange.requestForwarded(Self.request(0))
        exchange.requestForwarded(Self.request(1))
        #expect(exchange.inject(ByteBuffer(string: "third")) == nil)
        exchange.requestForwarded(Self.request(3))
        #expect(Self.reply(exchange) == 0)
        #expect(exchange.takeDue().isEmpty)
        #expect(Self.reply(exchange) == 1)
        #expect(exchange.takeDue() == [ByteBuffer(string: "third")])
        #expect(exchange.takeDue().isEmpty, "handed out once")
        #expect(Self.reply(exchange) == 3, "the answer took no reply's place")
    }

    @Test func subscribingStopsPairingAndReleasesHeldAnswers() {
        let exchange = Exchange(framing: .resp)
        exchange.requestForwarded(Self.request(0, command: "GET"))
        #expect(exchange.inject(ByteBuffer(string: "-ERR busy\r\n")) == nil)
        exchange.requestForwarded(Self.request(1, command: "SUBSCRIBE"))
        #expect(!exchange.pairing)
        #expect(exchange.takeDue() == [ByteBuffer(string: "-ERR busy\r\n")])
        #expect(exchange.awaited == nil)
        #expect(Self.reply(exchange) == nil, "replies carry no request_unit any more")
        #expect(exchange.inject(ByteBuffer(string: "x")) == ByteBuffer(string: "x"))
    }

    @Test func aProtocolThatNeverAnswersStopsPairingAtTheBound() {
        let exchange = Exchange(framing: .line)
        for unit in 0..<UInt64(Exchange.maxOutstanding) { exchange.requestForwarded(Self.request(unit)) }
        #expect(exchange.pairing)
        exchange.requestForwarded(Self.request(UInt64(Exchange.maxOutstanding)))
        #expect(!exchange.pairing)
        #expect(exchange.next == nil, "a line queue is let go")
    }

    @Test func httpKeepsItsRequestsForTheFramerAfterPairingStops() {
        let exchange = Exchange(framing: .http)
        exchange.requestForwarded(Self.request(0, path: "/a"))
        exchange.stopPairing()  // the request direction fell back (CONNECT, Upgrade)
        #expect(exchange.awaited == nil, "stages and the log pair nothing now")
        #expect(exchange.next?.info.path == "/a", "the response framer still needs the method")
        exchange.replyFramed()
        #expect(exchange.next == nil)
    }

    @Test func aSeverOnReplyArmsOnlyTheRequestJustForwarded() {
        let exchange = Exchange(framing: .line)
        let sever = FaultDecision(rule: "cut", kind: "sever", effect: .message(.sever(.reset, at: .firstReplyByte)), params: [:])
        exchange.requestForwarded(Self.request(0))
        exchange.severOnReply(to: 7, sever)
        #expect(exchange.awaited?.severOnReply == nil, "unit 7 is not the last request forwarded")
        exchange.severOnReply(to: 0, sever)
        #expect(exchange.awaited?.severOnReply == sever)
    }

    @Test func theClientIsWaitingForTheLastRequestWhoseReplyItHasNotTaken() {
        let exchange = Exchange(framing: .line)
        var taken = 0
        exchange.deliveredToClient = { taken }
        exchange.requestForwarded(Self.request(0))
        var info = MessageInfo(role: .response)
        exchange.framed(&info, firstMono: 0, now: 0, bytes: ByteBuffer(string: "ok\n"))
        exchange.replyForwarded(FramedMessage(bytes: ByteBuffer(string: "ok\n"), info: info, unit: 0))
        #expect(exchange.unanswered() == 0, "the reply is not in the client's socket yet")
        taken = 3
        #expect(exchange.unanswered() == nil)
    }
}

/// The framing handlers report units by parts; these tests speak of whole units.
extension Exchange {
    fileprivate func requestForwarded(_ message: FramedMessage) {
        self.requestForwarded(unit: message.unit, info: message.info)
    }

    fileprivate func replyForwarded(_ message: FramedMessage) {
        self.replyForwarded(byteCount: message.bytes.readableBytes, info: message.info)
    }
}
