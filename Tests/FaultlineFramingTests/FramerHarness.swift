import FaultlineCore
import NIOCore

@testable import FaultlineFraming

/// What a framer made of a byte stream, computed the way `FramingHandler` drives it.
struct FramingRun {
    var messages: [(bytes: ByteBuffer, info: MessageInfo)] = []
    /// Why the framer gave up, if it did.
    var fallback: String?
    /// Bytes carried raw: held at the fallback or at the end, and everything after.
    var raw = ByteBuffer()

    /// Every byte that left the framer, in order.
    var forwarded: ByteBuffer {
        var all = ByteBuffer()
        for var message in self.messages.map(\.bytes) { all.writeBuffer(&message) }
        var raw = self.raw
        all.writeBuffer(&raw)
        return all
    }

    var lengths: [Int] { self.messages.map(\.bytes.readableBytes) }
    var infos: [MessageInfo] { self.messages.map(\.info) }
}

/// Feeds `chunks` to `framer` one by one, then ends the input (if `end`).
func frame(_ framer: inout some MessageFramer, chunks: [ByteBuffer], end: Bool = true) -> FramingRun {
    var run = FramingRun()
    var buffer = ByteBuffer()
    var isRaw = false
    func drain() {
        while !isRaw {
            switch framer.decode(buffer: &buffer) {
            case .needMoreData: return
            case .message(let bytes, let info): run.messages.append((bytes, info))
            case .raw(let reason):
                run.fallback = reason
                isRaw = true
                run.raw.writeBuffer(&buffer)
            }
        }
    }
    for var chunk in chunks {
        if isRaw {
            run.raw.writeBuffer(&chunk)
        } else {
            buffer.writeBuffer(&chunk)
            drain()
        }
    }
    if end, !isRaw {
        if let last = framer.decodeLast(buffer: &buffer) { run.messages.append(last) }
        run.raw.writeBuffer(&buffer)
    }
    return run
}

extension ByteBuffer {
    /// Cuts the buffer at random points: many tiny pieces, some large ones.
    func randomChunks(using random: inout SplitMix64) -> [ByteBuffer] {
        var rest = self
        var chunks: [ByteBuffer] = []
        while rest.readableBytes > 0 {
            let limit = Bool.random(using: &random) ? 3 : 200
            let size = Int.random(in: 1...limit, using: &random)
            chunks.append(rest.readSlice(length: min(size, rest.readableBytes))!)
        }
        return chunks
    }
}

/// Concatenates strings or byte arrays into one buffer.
func buffer(_ parts: String...) -> ByteBuffer {
    ByteBuffer(string: parts.joined())
}

func concatenated(_ parts: [ByteBuffer]) -> ByteBuffer {
    var all = ByteBuffer()
    for var part in parts { all.writeBuffer(&part) }
    return all
}
