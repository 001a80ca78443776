import FaultlineCore
import NIOCore
import Testing

@testable import FaultlineFraming

struct LineFramerTests {
    /// Random lines, random split points: boundaries found are the boundaries written.
    @Test(arguments: 0..<40)
    func randomLinesAnySplitKeepBoundaries(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed))
        var messages: [ByteBuffer] = []
        for _ in 0..<Int.random(in: 1...30, using: &random) {
            var line = ByteBuffer()
            for _ in 0..<Int.random(in: 0...120, using: &random) {
                var byte = UInt8.random(in: 0...255, using: &random)
                if byte == UInt8(ascii: "\n") { byte = UInt8(ascii: "x") }
                line.writeInteger(byte)
            }
            line.writeString(Bool.random(using: &random) ? "\r\n" : "\n")
            messages.append(line)
        }
        let input = concatenated(messages)
        var framer = LineFramer(role: .request)
        let run = frame(&framer, chunks: input.randomChunks(using: &random))
        #expect(run.fallback == nil)
        #expect(run.messages.map(\.bytes) == messages)
        #expect(run.forwarded == input)
    }

    @Test func aLastLineWithoutNewlineIsAMessageAtTheEnd() {
        var framer = LineFramer(role: .request)
        let run = frame(&framer, chunks: [buffer("one\ntw"), buffer("o")])
        #expect(run.messages.map { String(buffer: $0.bytes) } == ["one\n", "two"])
        #expect(run.raw.readableBytes == 0)
    }

    @Test func requestsCarryAFingerprintAndRepliesDoNot() {
        var requests = LineFramer(role: .request)
        let run = frame(&requests, chunks: [buffer("GET x\nGET x\nGET y\n")])
        let prints = run.infos.map(\.fingerprint)
        #expect(prints[0] != nil && prints[0] == prints[1] && prints[0] != prints[2])
        #expect(prints[0]?.count == 32)
        var replies = LineFramer(role: .response)
        #expect(frame(&replies, chunks: [buffer("ok\n")]).infos.first?.fingerprint == nil)
    }

    @Test func aLineOverTheLimitFallsBackWithEveryByteForwarded() {
        var framer = LineFramer(role: .request, limits: FramingLimits(maxMessageBytes: 16))
        let input = buffer("short\n", String(repeating: "a", count: 40), "\nafter\n")
        var random = SplitMix64(seed: 7)
        let run = frame(&framer, chunks: input.randomChunks(using: &random))
        #expect(run.messages.count == 1)
        #expect(run.fallback?.contains("16-byte message limit") == true)
        #expect(run.forwarded == input)
    }
}
