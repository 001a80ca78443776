import FaultlineCore
import FaultlineProxy
import NIOCore
import NIOEmbedded
import Testing

/// `slice` with `size_variation`: every piece's size is drawn in `size ± variation`
/// (at least 1) from the unit's own decision key, so the same seed cuts the same
/// traffic into the same pieces.
struct SliceVariationTests {
    /// The sizes of the writes each chunk of `chunks` bytes became, chunk by chunk.
    static func pieces(_ rules: String, seed: UInt64, chunks: [Int] = [40, 17, 64, 3, 100]) throws -> [[Int]] {
        let s = try FaultStageTests.setup(rules, seed: seed)
        var pieces: [[Int]] = []
        for (index, size) in chunks.enumerated() {
            try s.channel.writeInbound(ByteBuffer(repeating: UInt8(0x61 + index), count: size))
            s.advance(.seconds(10))
            pieces.append(try s.writes().map(\.utf8.count))
        }
        return pieces
    }

    static let varied = "  - {name: drip, fault: {kind: slice, size: 4, size_variation: 3, gap: 1ms}}\n"

    @Test func piecesLieWithinTheBoundsAndAddUp() throws {
        let chunks = [40, 17, 64, 3, 100]
        let pieces = try Self.pieces(Self.varied, seed: 3, chunks: chunks)
        #expect(pieces.map { $0.reduce(0, +) } == chunks, "every byte, once")
        for piecesOfChunk in pieces {
            // All but the last lie in 1...7 (4 ± 3); the last is what was left, at most 7.
            #expect(piecesOfChunk.dropLast().allSatisfy { (1...7).contains($0) }, "\(piecesOfChunk)")
            #expect((1...7).contains(piecesOfChunk.last ?? 0), "\(piecesOfChunk)")
        }
        let drawn = Set(pieces.flatMap { $0.dropLast() })
        #expect(drawn.count >= 4, "sizes vary: \(drawn.sorted())")
    }

    @Test func theSameSeedCutsTheSamePieces() throws {
        let first = try Self.pieces(Self.varied, seed: 11)
        #expect(try Self.pieces(Self.varied, seed: 11) == first)
        #expect(try Self.pieces(Self.varied, seed: 12) != first)
    }

    @Test func theSmallestPieceIsOneByte() throws {
        let pieces = try Self.pieces("  - {name: drip, fault: {kind: slice, size: 2, size_variation: 5}}\n", seed: 5, chunks: [200])
        #expect(pieces[0].allSatisfy { (1...7).contains($0) }, "\(pieces[0])")
        #expect(pieces[0].contains(1), "sizes below 1 become 1")
    }

    @Test func withoutAVariationEveryPieceIsTheSize() throws {
        let pieces = try Self.pieces("  - {name: drip, fault: {kind: slice, size: 4, gap: 1ms}}\n", seed: 3, chunks: [10])
        #expect(pieces == [[4, 4, 2]])
    }

    /// Drawn sizes keep the gap: a write queued behind a sliced one starts one gap
    /// after its last piece, as if the two were cut in one go.
    @Test func everyPieceIsOneGapAfterTheLastEvenAcrossWrites() throws {
        let s = try FaultStageTests.setup("  - {name: drip, fault: {kind: slice, size: 4, size_variation: 3, gap: 10ms}}\n", seed: 8)
        try s.channel.writeInbound(ByteBuffer(repeating: 0x61, count: 60))
        try s.channel.writeInbound(ByteBuffer(repeating: 0x62, count: 25))
        var times: [Int] = []
        var writes: [String] = []
        for millisecond in 0..<1000 {
            for write in try s.writes() {
                times.append(millisecond)
                writes.append(write)
            }
            s.advance(.milliseconds(1))
        }
        #expect(writes.joined() == String(repeating: "a", count: 60) + String(repeating: "b", count: 25))
        // Not the 15 pieces of 4 bytes a fixed size would make: the drawn sizes count.
        #expect(writes.filter { $0.hasPrefix("a") }.count != 15)
        #expect(zip(times, times.dropFirst()).allSatisfy { $1 - $0 == 10 }, "\(times)")
    }

    @Test func oneEventPerConnectionAndDirectionWithTheVariation() throws {
        let s = try FaultStageTests.setup(Self.varied, seed: 3)
        try s.channel.writeInbound(ByteBuffer(repeating: 0x61, count: 30))
        try s.channel.writeInbound(ByteBuffer(repeating: 0x62, count: 30))
        s.advance(.seconds(10))
        let faults = s.events.events.filter { $0.type == .fault }
        #expect(faults.count == 1)
        #expect(faults.first?.params == ["size": "4", "size_variation": "3", "gap": "1ms"])
    }
}
