import FaultlineCore
import FaultlineProxy
import NIOCore
import NIOEmbedded
import Testing

/// The pacing stage's queue on loop time: held writes are cut into pieces as they fall
/// due, so what it holds stays one entry per write (or fewer), with the same pieces at
/// the same times as when every piece was queued ahead.
struct PacingStageQueueTests {
    static func setup(_ rules: String) throws -> FaultStageTests.Setup {
        try FaultStageTests.setup(rules)
    }

    @Test func aMegabyteSlicedByteByByteIsHeldAsFewEntries() throws {
        let s = try Self.setup("  - {name: drip, fault: {kind: slice, size: 1, gap: 10ms}}\n")
        let pacer = try s.channel.pipeline.syncOperations.handler(type: PacingStage.self)
        for _ in 0..<16 {
            try s.channel.writeInbound(ByteBuffer(repeating: UInt8(ascii: "m"), count: 64 * 1024))
        }
        #expect(try s.writes() == ["m"])
        #expect(pacer.heldEntries <= 16, "\(pacer.heldEntries) entries for 16 writes")
        // What it holds is counted: the bytes, their storage and a little per entry.
        #expect(pacer.heldCost >= 1 << 20 - 1)
        #expect(pacer.heldCost <= 1 << 20 + 16 * 1024)
        s.advance(.milliseconds(10))
        #expect(try s.writes() == ["m"])
        s.advance(.milliseconds(30))
        #expect(try s.writes() == ["m", "m", "m"])
    }

    @Test func smallWritesDueBackToBackJoinAndKeepTheirPiecesAndTimes() throws {
        let s = try Self.setup("  - {name: drip, fault: {kind: slice, size: 2, gap: 10ms}}\n")
        let pacer = try s.channel.pipeline.syncOperations.handler(type: PacingStage.self)
        try s.channel.writeInbound(ByteBuffer(string: "abcd"))
        try s.channel.writeInbound(ByteBuffer(string: "efg"))
        try s.channel.writeInbound(ByteBuffer(string: "hi"))
        #expect(try s.writes() == ["ab"])
        #expect(pacer.heldEntries <= 2, "\(pacer.heldEntries) entries")
        var pieces: [String] = []
        for _ in 0..<5 {
            s.advance(.milliseconds(9))
            #expect(try s.writes() == [], "a piece left early")
            s.advance(.milliseconds(1))
            pieces += try s.writes()
        }
        // "abcd" in two pieces; "efg" as its own write: "ef", then "g"; then "hi".
        #expect(pieces == ["cd", "ef", "g", "hi"])
        #expect(pacer.heldEntries == 0 && pacer.heldCost == 0)
    }

    @Test func aThrottledWriteLeavesAtItsRateWithAPartialLastPiece() throws {
        let s = try Self.setup("  - {name: narrow, fault: {kind: bandwidth, bytes_per_second: 5000}}\n")
        // 5000 B/s: pieces of 100 bytes, 20ms apart; 250 bytes are 100, 100, 50.
        try s.channel.writeInbound(ByteBuffer(repeating: 0x61, count: 250))
        try s.channel.writeInbound(ByteBuffer(string: "z"))
        #expect(try s.writes().map(\.count) == [100])
        s.advance(.milliseconds(20))
        #expect(try s.writes().map(\.count) == [100])
        s.advance(.milliseconds(20))
        #expect(try s.writes().map(\.count) == [50])
        // The 50 bytes take 10ms at 5000 B/s: the next write leaves then, not before.
        s.advance(.milliseconds(9))
        #expect(try s.writes() == [])
        s.advance(.milliseconds(1))
        #expect(try s.writes() == ["z"])
    }
}
