import FaultlineCore
import Foundation
import Testing

/// The hand-written log line must be the bytes `JSONEncoder` writes (sorted keys, slashes
/// unescaped): logs written before it and after it read and compare the same.
@Suite struct EventJSONTests {
    static func encoded(_ event: Event) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return String(decoding: try encoder.encode(event), as: UTF8.self)
    }

    static func written(_ event: Event) -> String {
        var bytes: [UInt8] = []
        event.appendJSON(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An event with every field the log knows set, found by decoding: a field added to
    /// `Event` and forgotten by the writer makes this test fail.
    static func everyField() throws -> (event: Event, keys: [String]) {
        var object: [String: Any] = ["type": "message", "v": 1]
        for key in Event.CodingKeys.allCases.map(\.stringValue) where object[key] == nil {
            let candidates: [Any] = [9_007_199_254_740_993, "a/b \"q\" \u{1}é", "downstream", ["sent": "true", "a_b": "x"]]
            let fits = candidates.first { candidate in
                var trial = object
                trial[key] = candidate
                let data = try! JSONSerialization.data(withJSONObject: trial)
                return (try? JSONDecoder().decode(Event.self, from: data)) != nil
            }
            object[key] = try #require(fits, "no value fits \(key)")
        }
        let data = try JSONSerialization.data(withJSONObject: object)
        return (try JSONDecoder().decode(Event.self, from: data), Array(object.keys))
    }

    @Test func everyFieldIsWrittenAsTheEncoderWritesIt() throws {
        let (event, keys) = try Self.everyField()
        let written = Self.written(event)
        #expect(written == (try Self.encoded(event)))
        for key in keys { #expect(written.contains("\"\(key)\":"), "\(key) is not written") }
        #expect(try JSONDecoder().decode(Event.self, from: Data(written.utf8)) == event)
    }

    @Test func escapesAsTheEncoderDoes() throws {
        var text = String((0..<0x80).map { Character(Unicode.Scalar(UInt8($0))) })
        text += "é\u{2028}\u{2029}😀\u{FEFF}/\\\""
        var event = Event(.fault)
        event.reason = text
        event.params = [text: text, "": "", "B": "1", "a10": "2", "a9": "3", "a_": "4", "é": "5"]
        #expect(Self.written(event) == (try Self.encoded(event)))
    }

    @Test func integersAtTheirLimits() throws {
        for value in [Int.min, Int.min + 1, -10, -1, 0, 1, 9, 10, 99, 100, Int.max] {
            var event = Event(.connectionClose)
            event.bytes = value
            #expect(Self.written(event) == (try Self.encoded(event)))
        }
        for value in [UInt64.min, 1, 10, UInt64(Int64.max), UInt64.max] {
            var event = Event(.message)
            event.mono = value
            event.conn = value
            #expect(Self.written(event) == (try Self.encoded(event)))
        }
        // The writer counts digits from the bit length: each power of ten and its
        // neighbours, where the count changes, and each power of two, where the estimate does.
        var edges: [UInt64] = [0, UInt64.max, UInt64.max - 1]
        var power: UInt64 = 1
        for _ in 0..<20 {
            edges += [power - 1, power, power + 1]
            if power <= UInt64.max / 10 { power *= 10 } else { break }
        }
        for bit in 0..<64 { edges += [(1 << bit) - 1, 1 << bit, (1 << bit) + 1] }
        for value in edges {
            var event = Event(.message)
            event.mono = value
            event.bytes = Int(truncatingIfNeeded: value)
            #expect(Self.written(event) == (try Self.encoded(event)), "\(value)")
        }
    }

    /// Random events from a fixed seed: fields present or not, strings from a mix of
    /// ASCII, control characters, quotes and non-ASCII.
    @Test func randomEventsMatchTheEncoder() throws {
        var random = DecisionRandom(DecisionKey(seed: 15, proxy: 0, connection: 0, unit: 0, rule: 0))
        let alphabet = Array("ab/\\\"\n\t\u{0}\u{1f}\u{7f} é😀")
        func text() -> String? {
            random.next() % 3 == 0 ? nil : String((0..<Int(random.next() % 12)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
        }
        func number() -> Int? { random.next() % 3 == 0 ? nil : Int(truncatingIfNeeded: random.next()) >> Int(random.next() % 64) }
        func unsigned() -> UInt64? { random.next() % 3 == 0 ? nil : random.next() >> (random.next() % 64) }
        for _ in 0..<500 {
            var event = Event(.message)
            event.time = text()
            event.mono = unsigned()
            event.proxy = text()
            event.conn = unsigned()
            event.direction = random.next() % 2 == 0 ? .upstream : nil
            event.bytes = number()
            event.droppedDownstream = number()
            event.method = text()
            event.path = text()
            event.status = number()
            event.reason = text()
            event.requestMono = unsigned()
            if random.next() % 2 == 0 { event.params = [text() ?? "k": text() ?? "v", text() ?? "j": text() ?? ""] }
            #expect(Self.written(event) == (try Self.encoded(event)))
        }
    }

    /// The writer looks at eight bytes at a time for one that needs escaping: each such
    /// byte at each place of a word, among bytes one bit away from those that need it
    /// (0xA0, 0xA2 and 0x9C are a space, `"` and `\` with the high bit set).
    @Test func escapesAreFoundAtEveryPlaceOfAWord() throws {
        let special = (0..<0x20).map { String(Character(Unicode.Scalar(UInt8($0)))) } + ["\"", "\\"]
        let fillers = ["a", " ", "!", "#", "[", "]", "\u{7f}", "\u{a0}", "¢", "Ü", "é", "😀"]
        for filler in fillers {
            for length in 1...17 {
                for position in 0..<length {
                    for escape in special {
                        var characters = Array(repeating: filler, count: length)
                        characters[position] = escape
                        var event = Event(.message)
                        event.path = characters.joined()
                        #expect(Self.written(event) == (try Self.encoded(event)), "\(filler) \(length) \(position)")
                    }
                }
            }
        }
        var random = DecisionRandom(DecisionKey(seed: 16, proxy: 0, connection: 0, unit: 0, rule: 0))
        let alphabet = special + fillers + ["\u{2028}", "ÿ", "\u{1f}"]
        for _ in 0..<2_000 {
            var event = Event(.message)
            event.path = (0..<Int(random.next() % 70)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }.joined()
            #expect(Self.written(event) == (try Self.encoded(event)))
        }
    }

    /// Lines longer than the writer's first buffer (a payload), with escapes where the
    /// buffer must grow, appended after what the output already holds.
    @Test func longLinesGrowTheBufferAndAppend() throws {
        for length in [0, 1, 500, 505, 511, 512, 513, 1024, 70_000] {
            for escapeEvery in [0, 1, 7, 509] {
                let text = String((0..<length).map { escapeEvery > 0 && $0 % escapeEvery == 0 ? "\u{1}" : "a" })
                var event = Event(.message)
                event.payload = text
                event.reason = "\"" + text
                event.conn = UInt64.max
                var bytes = Array("previous line\n".utf8)
                event.appendJSON(to: &bytes)
                #expect(String(decoding: bytes, as: UTF8.self) == "previous line\n" + (try Self.encoded(event)))
            }
        }
    }
}
