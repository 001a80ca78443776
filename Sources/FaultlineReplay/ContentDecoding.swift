import CZlib
import Foundation

/// Undoes a reply's `Content-Encoding` (gzip, deflate) so replay compares what the
/// service said, not how it compressed it.
///
/// Replay resends recorded requests as recorded, `Accept-Encoding: gzip` included, so a
/// service (or nginx in front of it) may compress every answer; two answers that differ
/// only in a volatile field then differ in nearly every compressed byte. zlib (Debian's
/// zlib1g-dev) does the inflating; the output is bounded so a small reply cannot expand
/// without limit.
enum ContentDecoding {
    /// Inflated output past this many bytes is refused: replay reads replies of at most
    /// the framer's 8 MiB, and a comparison never needs more.
    static let maxDecodedBytes = 64 << 20

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// `body` with the codings of `contentEncoding` (`gzip`, `x-gzip`, `deflate`,
    /// `identity`; applied in the order listed, so undone from the last) removed.
    ///
    /// - Throws: `Failure` naming the coding when one is unknown (`br`, `zstd`) or its
    ///   bytes do not inflate.
    static func decode(_ body: [UInt8], contentEncoding values: [String]) throws(Failure) -> [UInt8] {
        let codings = values.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            .filter { !$0.isEmpty }
        var bytes = body
        for coding in codings.reversed() {
            switch coding {
            case "identity":
                continue
            case "gzip", "x-gzip":
                bytes = try Self.inflate(bytes, windowBits: 15 + 16, coding: coding)
            case "deflate":
                // RFC 9110 says zlib-wrapped; some servers send raw deflate: try both.
                do {
                    bytes = try Self.inflate(bytes, windowBits: 15, coding: coding)
                } catch {
                    bytes = try Self.inflate(bytes, windowBits: -15, coding: coding)
                }
            default:
                throw Failure(description: "Content-Encoding \(coding) is not one replay decodes (gzip, deflate)")
            }
        }
        return bytes
    }

    /// One zlib stream inflated whole. `windowBits` picks the wrapper: 15 zlib, 31 gzip,
    /// -15 none (raw deflate).
    private static func inflate(_ input: [UInt8], windowBits: Int32, coding: String) throws(Failure) -> [UInt8] {
        if input.isEmpty { return [] }
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "zlib could not start inflating \(coding)")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var input = input
        var status: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(target.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    output += target[0..<(target.count - Int(stream.avail_out))]
                }
            } while status == Z_OK && output.count <= Self.maxDecodedBytes && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        if output.count > Self.maxDecodedBytes {
            throw Failure(description: "the \(coding) body inflates past \(Self.maxDecodedBytes >> 20) MiB")
        }
        guard status == Z_STREAM_END else {
            let message = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
            throw Failure(description: "the \(coding) body does not inflate (\(status == Z_OK || status == Z_BUF_ERROR ? "it ends early" : message))")
        }
        return output
    }
}
