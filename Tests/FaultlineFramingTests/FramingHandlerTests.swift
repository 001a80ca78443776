import FaultlineCore
import NIOCore
import NIOEmbedded
import Testing

@testable import FaultlineFraming

/// Counts `read()` calls reaching the head of the pipeline.
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny
    var reads = 0

    func read(context: ChannelHandlerContext) {
        self.reads += 1
        context.read()
    }
}

/// Records, in order, the message starts and units that reach it.
final class OrderRecorder: ChannelInboundHandler {
    typealias InboundIn = FramedMessage
    var log: [String] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.log.append("unit \(Self.unwrapInboundIn(data).unit)")
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let began = event as? FramingHandler.MessageBegan { self.log.append("began \(began.unit)") }
    }
}

/// A stand-in for a message fault stage: drops the units it is told to.
final class DropUnits: ChannelInboundHandler {
    typealias InboundIn = FramedMessage
    typealias InboundOut = FramedMessage
    let units: Set<UInt64>

    init(_ units: Set<UInt64>) {
        self.units = units
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = Self.unwrapInboundIn(data)
        if !self.units.contains(message.unit) { context.fireChannelRead(data) }
    }
}

struct FramingHandlerTests {
    static func channel(
        _ kind: FramingConfiguration.Kind,
        direction: Event.Direction = .upstream,
        events: MemoryEventSink,
        recordPayloads: Bool = false,
        limits: FramingLimits = FramingLimits()
    ) throws -> (EmbeddedChannel, FramingSession) {
        let configuration = FramingConfiguration(kind: kind, limits: limits, recordPayloads: recordPayloads)
        let session = FramingSession(configuration: configuration, proxy: "p", connection: 7, events: events)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(session.handlers(for: direction, unframe: false))
        return (channel, session)
    }

    @Test func splitRequestsComeOutAsOneUnitEachWithAMessageEvent() throws {
        let events = MemoryEventSink()
        let (channel, _) = try Self.channel(.http, events: events)
        try channel.writeInbound(buffer("GET /a HTTP/1.1\r\nIdempotency-Key: k1\r\n\r\nPOST /b HT"))
        try channel.writeInbound(buffer("TP/1.1\r\nContent-Length: 3\r\n\r\nab"))
        let first = try #require(try channel.readInbound(as: FramedMessage.self))
        #expect(first.unit == 0)
        #expect(first.info?.method == "GET")
        #expect(String(buffer: first.bytes) == "GET /a HTTP/1.1\r\nIdempotency-Key: k1\r\n\r\n")
        #expect(try channel.readInbound(as: FramedMessage.self) == nil, "POST /b is not complete yet")
        try channel.writeInbound(buffer("c"))
        let second = try #require(try channel.readInbound(as: FramedMessage.self))
        #expect(second.unit == 1)
        #expect(second.info?.path == "/b")
        let post = "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
        #expect(String(buffer: second.bytes) == post)

        let messages = events.events.filter { $0.type == .message }
        #expect(messages.map(\.unit) == [0, 1])
        #expect(messages.map(\.method) == ["GET", "POST"])
        #expect(messages.map(\.bytes) == [first.bytes.readableBytes, post.utf8.count])
        #expect(messages.allSatisfy { $0.proxy == "p" && $0.conn == 7 && $0.direction == .upstream && $0.mono != nil })
        #expect(messages[0].idempotencyKey == "k1")
        #expect(messages[0].fingerprint?.count == 32)
        #expect(messages[0].payload == nil)
        #expect(try channel.finish().isClean)
    }

    /// Without a message stage the whole messages of one read go on as one buffer, in
    /// order and byte for byte, each still a `message` event; a message still incomplete
    /// waits, and what follows a fallback goes on after what came before it.
    @Test func theDirectPathPassesTheMessagesOfOneReadAsOneBuffer() throws {
        let events = MemoryEventSink()
        let configuration = FramingConfiguration(kind: .line, limits: FramingLimits(maxMessageBytes: 4_096))
        let session = FramingSession(configuration: configuration, proxy: "p", connection: 7, events: events)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(session.makeFramingHandler(for: .upstream, passesUnits: false))
        let lines = (0..<500).map { "line \($0)\n" }.joined()
        try channel.writeInbound(buffer(lines + "part"))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == lines)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil, "the incomplete line waits")
        try channel.writeInbound(buffer("ial\nnext\n"))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "partial\nnext\n")
        #expect(events.events.filter { $0.type == .message }.count == 502)
        try channel.writeInbound(buffer("ok\n" + String(repeating: "x", count: 5_000)))
        #expect(try channel.readInbound(as: ByteBuffer.self).map { String(buffer: $0) } == "ok\n")
        #expect(try channel.readInbound(as: ByteBuffer.self)?.readableBytes == 5_000, "over the limit, the rest falls back")
        #expect(events.events.contains { $0.type == .framingFallback })
        _ = try channel.finish()
    }

    @Test func payloadsAreRecordedOnlyWhenAsked() throws {
        let events = MemoryEventSink()
        let (channel, _) = try Self.channel(.line, events: events, recordPayloads: true)
        try channel.writeInbound(buffer("hello\n", "a\n", "ab\n"))
        let payloads = events.events.compactMap(\.payload)
        #expect(payloads == ["aGVsbG8K", "YQo=", "YWIK"])
        _ = try channel.finish()
    }

    @Test func garbageFallsBackOnceAndEverythingAfterPassesAsItComes() throws {
        let events = MemoryEventSink()
        let (channel, session) = try Self.channel(.resp, events: events)
        try channel.writeInbound(buffer("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI"))
        try channel.writeInbound(buffer("\u{1}\u{2}garbage"))
        try channel.writeInbound(buffer("more"))
        let ping = try #require(try channel.readInbound(as: FramedMessage.self))
        #expect(ping.info?.command == "PING")
        let held = try #require(try channel.readInbound(as: FramedMessage.self))
        #expect(held.info == nil)
        #expect(held.unit == 1)
        #expect(String(buffer: held.bytes) == "*1\r\n$4\r\nPI\u{1}\u{2}garbage")
        let after = try #require(try channel.readInbound(as: FramedMessage.self))
        #expect(String(buffer: after.bytes) == "more")
        #expect(after.unit == 2)
        let fallbacks = events.events.filter { $0.type == .framingFallback }
        #expect(fallbacks.count == 1)
        #expect(fallbacks.first?.reason?.isEmpty == false)
        #expect(fallbacks.first?.unit == 1)
        #expect(fallbacks.first?.bytes == held.bytes.readableBytes)
        #expect(fallbacks.first?.framing == "resp")
        #expect(session.configuration.kind == .resp)
        #expect(events.events.filter { $0.type == .message }.count == 1)
        _ = try channel.finish()
    }

    @Test func aMessageHeldTooLongGoesOnRawOnLoopTime() throws {
        let events = MemoryEventSink()
        let limits = FramingLimits(maxHoldNanoseconds: 2_000_000_000)
        let (channel, _) = try Self.channel(.http, events: events, limits: limits)
        let head = "POST /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n"
        try channel.writeInbound(buffer(head))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(try channel.readInbound(as: FramedMessage.self) == nil)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let held = try #require(try channel.readInbound(as: FramedMessage.self))
        #expect(held.info == nil)
        #expect(String(buffer: held.bytes) == head)
        #expect(events.events.last?.reason == "a message stayed incomplete for 2s")
        _ = try channel.finish()
    }

    @Test func theHoldTimerRestartsWhenAMessageCompletes() throws {
        let events = MemoryEventSink()
        let (channel, _) = try Self.channel(.line, events: events, limits: FramingLimits(maxHoldNanoseconds: 1_000_000_000))
        try channel.writeInbound(buffer("par"))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(900))
        try channel.writeInbound(buffer("t\nnext par"))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(900))
        #expect(events.events.allSatisfy { $0.type == .message })
        try channel.writeInbound(buffer("t\n"))
        #expect(events.events.map(\.bytes) == [5, 10])
        _ = try channel.finish()
    }

    @Test func aResponseReadUntilCloseIsOneMessageAtEndOfInput() throws {
        let events = MemoryEventSink()
        let configuration = FramingConfiguration(kind: .http)
        let session = FramingSession(configuration: configuration, proxy: "p", connection: 0, events: events)
        let client = EmbeddedChannel()
        let server = EmbeddedChannel()
        try client.pipeline.syncOperations.addHandlers(session.handlers(for: .upstream))
        try server.pipeline.syncOperations.addHandlers(session.handlers(for: .downstream))
        try client.writeInbound(buffer("GET /old HTTP/1.0\r\n\r\n"))
        #expect(try client.readInbound(as: ByteBuffer.self) == buffer("GET /old HTTP/1.0\r\n\r\n"))
        try server.writeInbound(buffer("HTTP/1.0 200 OK\r\n\r\nbody"))
        try server.writeInbound(buffer(" continues"))
        #expect(try server.readInbound(as: ByteBuffer.self) == nil)
        server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try server.readInbound(as: ByteBuffer.self) == buffer("HTTP/1.0 200 OK\r\n\r\nbody continues"))
        let reply = try #require(events.events.last)
        #expect(reply.type == .message && reply.direction == .downstream && reply.status == 200 && reply.path == "/old")
        _ = try client.finish()
        _ = try server.finish()
    }

    @Test func anIncompleteMessageGoesOnRawWhenTheConnectionCloses() throws {
        let events = MemoryEventSink()
        let (channel, _) = try Self.channel(.length(try LengthPrefix(width: 2)), events: events)
        try channel.writeInbound(ByteBuffer(bytes: [0, 5, 1, 2]))
        #expect(try channel.readInbound(as: FramedMessage.self) == nil)
        channel.pipeline.fireChannelInactive()
        let rest = try #require(try channel.readInbound(as: FramedMessage.self))
        #expect(rest.bytes == ByteBuffer(bytes: [0, 5, 1, 2]))
        #expect(events.events.last?.reason == "the connection closed inside a message")
        _ = try? channel.finish()
    }

    @Test func readCallsPassThrough() throws {
        let events = MemoryEventSink()
        let counter = ReadCounter()
        let channel = EmbeddedChannel(handler: counter)
        let session = FramingSession(configuration: FramingConfiguration(kind: .resp), proxy: "p", connection: 0, events: events)
        try channel.pipeline.syncOperations.addHandlers(session.handlers(for: .upstream))
        channel.read()
        channel.read()
        #expect(counter.reads == 2)
        _ = try channel.finish()
    }

    @Test func unframingHandsTheBridgeTheSameBytes() throws {
        let events = MemoryEventSink()
        let session = FramingSession(configuration: FramingConfiguration(kind: .line), proxy: "p", connection: 0, events: events)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(session.handlers(for: .upstream))
        try channel.writeInbound(buffer("a\nb"))
        try channel.writeInbound(buffer("c\n"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == buffer("a\n"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == buffer("bc\n"))
        _ = try channel.finish()
    }

    @Test func theFirstBytesOfEachMessageAreAnnouncedBeforeItGoesOn() throws {
        let session = FramingSession(configuration: FramingConfiguration(kind: .http), proxy: "p", connection: 0, events: MemoryEventSink())
        let recorder = OrderRecorder()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(session.handlers(for: .downstream, unframe: false) + [recorder])
        try channel.writeInbound(buffer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"))
        try channel.writeInbound(buffer("okHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 500 X\r\n"))
        try channel.writeInbound(buffer("Content-Length: 0\r\n\r\n"))
        #expect(recorder.log == ["began 0", "unit 0", "began 1", "unit 1", "began 2", "unit 2"])
        _ = try channel.finish()
    }

    /// The plug-in point for message faults: a stage between framer and unframer drops
    /// a request; the server never sees it, and its replies pair with what it did see.
    @Test func aMessageStageCanDropARequestAndRepliesStillPair() throws {
        let events = MemoryEventSink()
        let session = FramingSession(configuration: FramingConfiguration(kind: .http), proxy: "p", connection: 0, events: events)
        let client = EmbeddedChannel()
        let server = EmbeddedChannel()
        try client.pipeline.syncOperations.addHandlers(
            session.handlers(for: .upstream, unframe: false) + [DropUnits([0]), session.makeUnframer(for: .upstream)]
        )
        try server.pipeline.syncOperations.addHandlers(session.handlers(for: .downstream))
        try client.writeInbound(buffer("GET /dropped HTTP/1.1\r\n\r\nHEAD /kept HTTP/1.1\r\n\r\n"))
        #expect(try client.readInbound(as: ByteBuffer.self) == buffer("HEAD /kept HTTP/1.1\r\n\r\n"))
        #expect(try client.readInbound(as: ByteBuffer.self) == nil)
        try server.writeInbound(buffer("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"))
        #expect(try server.readInbound(as: ByteBuffer.self) == buffer("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"))
        let reply = try #require(events.events.last)
        #expect(reply.direction == .downstream && reply.method == "HEAD" && reply.path == "/kept")
        _ = try client.finish()
        _ = try server.finish()
    }

    /// When the request direction stops framing (here: a head held past max-hold), the
    /// response direction stops too once the replies it can pair are done.
    @Test func aRequestSideFallbackEndsReplyFramingOnceTheQueueDrains() throws {
        let events = MemoryEventSink()
        let configuration = FramingConfiguration(kind: .http, limits: FramingLimits(maxHoldNanoseconds: 1_000_000_000))
        let session = FramingSession(configuration: configuration, proxy: "p", connection: 0, events: events)
        let client = EmbeddedChannel()
        let server = EmbeddedChannel(loop: client.embeddedEventLoop)
        try client.pipeline.syncOperations.addHandlers(session.handlers(for: .upstream))
        try server.pipeline.syncOperations.addHandlers(session.handlers(for: .downstream))
        try client.writeInbound(buffer("GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 9\r\n\r\npar"))
        client.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try client.readInbound(as: ByteBuffer.self) == buffer("GET /a HTTP/1.1\r\n\r\n"))
        #expect(try client.readInbound(as: ByteBuffer.self) != nil, "the held POST went on raw")
        try server.writeInbound(buffer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 Created\r\n\r\n"))
        let fallbacks = events.events.filter { $0.type == .framingFallback }
        #expect(fallbacks.map(\.direction) == [.upstream, .downstream])
        #expect(fallbacks.last?.reason?.contains("request direction is raw") == true)
        let replies = events.events.filter { $0.type == .message && $0.direction == .downstream }
        #expect(replies.map(\.path) == ["/a"])
        _ = try client.finish()
        _ = try server.finish()
    }

    @Test func kindsAreNamedAsTheCommandLineSpellsThem() throws {
        #expect(try FramingConfiguration.Kind(name: "http") == .http)
        #expect(try FramingConfiguration.Kind(name: "length") == .length(try LengthPrefix(width: 4)))
        #expect(try FramingConfiguration.Kind(name: "length", lengthPrefix: try LengthPrefix(width: 2)).name == "length")
        #expect(throws: InvalidInputError.self) { try FramingConfiguration.Kind(name: "grpc") }
    }

    @Test func rawFramingInstallsNothing() {
        let session = FramingSession(configuration: .raw, proxy: "p", connection: 0, events: MemoryEventSink())
        #expect(session.handlers(for: .upstream).isEmpty)
    }

    @Test func base64MatchesRFC4648Vectors() {
        let vectors: [(String, String)] = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(ByteBuffer(string: plain)) == encoded)
        }
    }
}
