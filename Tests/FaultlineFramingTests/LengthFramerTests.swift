import FaultlineCore
import NIOCore
import Testing

@testable import FaultlineFraming

struct LengthFramerTests {
    static let prefixes: [LengthPrefix] = {
        var all: [LengthPrefix] = []
        for width in LengthPrefix.widths {
            for endianness in LengthPrefix.Endianness.allCases {
                for includes in [false, true] {
                    all.append(try! LengthPrefix(width: width, endianness: endianness, includesPrefix: includes))
                }
            }
        }
        return all
    }()

    static func encode(_ payload: [UInt8], prefix: LengthPrefix) -> ByteBuffer {
        var buffer = ByteBuffer()
        let length = UInt64(payload.count + (prefix.includesPrefix ? prefix.width : 0))
        let endianness: Endianness = prefix.endianness == .big ? .big : .little
        switch prefix.width {
        case 1: buffer.writeInteger(UInt8(length))
        case 2: buffer.writeInteger(UInt16(length), endianness: endianness)
        case 4: buffer.writeInteger(UInt32(length), endianness: endianness)
        default: buffer.writeInteger(length, endianness: endianness)
        }
        buffer.writeBytes(payload)
        return buffer
    }

    /// Every width, byte order and self-counting choice, random payloads, random splits.
    @Test(arguments: prefixes)
    func randomMessagesAnySplitKeepBoundaries(prefix: LengthPrefix) {
        var random = SplitMix64(seed: UInt64(prefix.width * 10 + (prefix.includesPrefix ? 1 : 0)))
        for _ in 0..<10 {
            var messages: [ByteBuffer] = []
            for _ in 0..<Int.random(in: 1...20, using: &random) {
                let size = Int.random(in: 0...(prefix.width == 1 ? 200 : 2000), using: &random)
                messages.append(Self.encode((0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }, prefix: prefix))
            }
            let input = concatenated(messages)
            var framer = LengthFramer(prefix: prefix, role: .request)
            let run = frame(&framer, chunks: input.randomChunks(using: &random))
            #expect(run.fallback == nil)
            #expect(run.messages.map(\.bytes) == messages)
            #expect(run.forwarded == input)
        }
    }

    @Test func aLengthShorterThanItsOwnPrefixFallsBack() throws {
        let prefix = try LengthPrefix(width: 2, includesPrefix: true)
        var framer = LengthFramer(prefix: prefix, role: .request)
        var input = ByteBuffer(bytes: [0, 1, 0xAA, 0xBB])
        let run = frame(&framer, chunks: [input])
        #expect(run.messages.isEmpty)
        #expect(run.fallback?.contains("shorter than the 2-byte prefix") == true)
        #expect(run.forwarded == input.readSlice(length: 4)!)
    }

    @Test func aLengthOverTheLimitFallsBackAtOnce() throws {
        var framer = LengthFramer(prefix: try LengthPrefix(width: 8), role: .request)
        var input = ByteBuffer()
        input.writeInteger(UInt64.max)
        input.writeString("xyz")
        let run = frame(&framer, chunks: [input], end: false)
        #expect(run.fallback != nil)
        #expect(run.forwarded == input)
    }

    @Test func widthsOtherThanOneTwoFourEightAreRefused() {
        #expect(throws: InvalidInputError.self) { try LengthPrefix(width: 3) }
    }
}
