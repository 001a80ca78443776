import FaultlineCore
import NIOCore
import Testing

@testable import FaultlineFraming

struct RESPFramerTests {
    // MARK: Property

    /// A random RESP2/RESP3 value, nested up to `depth`.
    static func randomValue(depth: Int, using random: inout SplitMix64) -> String {
        let scalarKinds = 14
        let kind = Int.random(in: 0..<(depth > 0 ? scalarKinds + 7 : scalarKinds), using: &random)
        func word() -> String {
            String((0..<Int.random(in: 0...12, using: &random)).map { _ in "abcxyz 019".randomElement(using: &random)! })
        }
        func blob() -> String {
            String((0..<Int.random(in: 0...80, using: &random)).map { _ in "ab\r\n$*:+-.\u{0}".randomElement(using: &random)! })
        }
        func children(_ count: Int) -> String {
            (0..<count).map { _ in Self.randomValue(depth: depth - 1, using: &random) }.joined()
        }
        switch kind {
        case 0: return "+\(word())\r\n"
        case 1: return "-ERR \(word())\r\n"
        case 2: return ":\(Int.random(in: -1000...1000, using: &random))\r\n"
        case 3: let b = blob(); return "$\(b.utf8.count)\r\n\(b)\r\n"
        case 4: return "$-1\r\n"
        case 5: return "*-1\r\n"
        case 6: return "_\r\n"
        case 7: return ",\(["3.14", "-1", "inf", "nan", "1e10"].randomElement(using: &random)!)\r\n"
        case 8: return "#\(Bool.random(using: &random) ? "t" : "f")\r\n"
        case 9: let b = blob(); return "!\(b.utf8.count)\r\n\(b)\r\n"
        case 10: let b = "txt:" + blob(); return "=\(b.utf8.count)\r\n\(b)\r\n"
        case 11: return "(3492890328409238509324850943850943825024385\r\n"
        case 12:
            let parts = (0..<Int.random(in: 1...3, using: &random)).map { _ -> String in let b = blob(); return ";\(b.utf8.count)\r\n\(b)\r\n" }
            return "$?\r\n" + parts.filter { !$0.hasPrefix(";0\r\n") }.joined() + ";0\r\n"
        case 13: return "*0\r\n"
        case 14: let n = Int.random(in: 1...4, using: &random); return "*\(n)\r\n" + children(n)
        case 15: let n = Int.random(in: 1...3, using: &random); return "%\(n)\r\n" + children(2 * n)
        case 16: let n = Int.random(in: 1...3, using: &random); return "~\(n)\r\n" + children(n)
        case 17: let n = Int.random(in: 1...3, using: &random); return ">\(n)\r\n" + children(n)
        case 18: return "|1\r\n+key\r\n" + children(1) + children(1)  // attribute, then the value it annotates
        case 19: return "*?\r\n" + children(Int.random(in: 0...3, using: &random)) + ".\r\n"
        default: return "%?\r\n" + children(2) + ".\r\n"
        }
    }

    static func randomCommand(using random: inout SplitMix64) -> (text: String, name: String) {
        let name = ["set", "GET", "incr", "HSET", "ping", "Del"].randomElement(using: &random)!
        if Int.random(in: 0...3, using: &random) == 0 {
            return ("\(name) key\(random.next() % 10) value\r\n", name.uppercased())
        }
        let arguments = [name] + (0..<Int.random(in: 0...4, using: &random)).map { _ in "arg\r\n\(random.next() % 100)" }
        return ("*\(arguments.count)\r\n" + arguments.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined(), name.uppercased())
    }

    /// Random replies of every RESP3 type, nested, split at random points.
    @Test(arguments: 0..<60)
    func randomRepliesAnySplitKeepBoundaries(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed))
        let values = (0..<Int.random(in: 1...10, using: &random)).map { _ in ByteBuffer(string: Self.randomValue(depth: 3, using: &random)) }
        let input = concatenated(values)
        var framer = RESPFramer(role: .response)
        let run = frame(&framer, chunks: input.randomChunks(using: &random))
        #expect(run.fallback == nil)
        #expect(run.messages.map(\.bytes) == values)
        #expect(run.forwarded == input)
    }

    /// Pipelined commands, inline and multibulk, split at random points.
    @Test(arguments: 0..<30)
    func randomCommandsAnySplitKeepBoundariesAndNames(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed) + 1000)
        let commands = (0..<Int.random(in: 1...12, using: &random)).map { _ in Self.randomCommand(using: &random) }
        let input = ByteBuffer(string: commands.map(\.text).joined())
        var framer = RESPFramer(role: .request)
        let run = frame(&framer, chunks: input.randomChunks(using: &random))
        #expect(run.fallback == nil)
        #expect(run.messages.map { String(buffer: $0.bytes) } == commands.map(\.text))
        #expect(run.infos.map(\.command) == commands.map(\.name))
        #expect(run.forwarded == input)
    }

    // MARK: Cases

    @Test func pipelinedCommandsCarryTheirNamesAndFingerprints() {
        var framer = RESPFramer(role: .request)
        let run = frame(&framer, chunks: [buffer("*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\nPING\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n")])
        #expect(run.infos.map(\.command) == ["SET", "INCR", "PING", "INCR"])
        #expect(run.infos[1].fingerprint == run.infos[3].fingerprint)
        #expect(run.infos[0].fingerprint != run.infos[1].fingerprint)
    }

    /// `CLIENT REPLY OFF` and `SKIP` (as arrays, split across reads, or inline) say the
    /// server stops answering one for one; `ON` and other CLIENT commands do not.
    @Test func clientReplyOffAndSkipAreFlagged() {
        var framer = RESPFramer(role: .request)
        let run = frame(
            &framer,
            chunks: [
                buffer("*3\r\n$6\r\nclient\r\n$5\r\nREP"), buffer("LY\r\n$3\r\noff\r\n"),
                buffer("CLIENT REPLY SKIP\r\n*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n"),
                buffer("*2\r\n$6\r\nCLIENT\r\n$4\r\nLIST\r\n*3\r\n$3\r\nSET\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n"),
            ]
        )
        #expect(run.infos.map(\.command) == ["CLIENT", "CLIENT", "CLIENT", "CLIENT", "SET"])
        #expect(run.infos.map(\.silencesReplies) == [true, true, false, false, false])
    }

    static let replies: [(String, String)] = [
        ("nested arrays", "*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n$3\r\nabc\r\n"),
        ("map", "%2\r\n+first\r\n:1\r\n+second\r\n#t\r\n"),
        ("set", "~2\r\n+a\r\n+b\r\n"),
        ("push", ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n"),
        ("attribute before a reply", "|1\r\n+ttl\r\n:3600\r\n*1\r\n:7\r\n"),
        ("attribute inside an array", "*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n"),
        ("streamed string", "$?\r\n;4\r\nHell\r\n;1\r\no\r\n;0\r\n"),
        ("streamed array", "*?\r\n:1\r\n:2\r\n.\r\n"),
        ("verbatim", "=15\r\ntxt:Some string\r\n"),
        ("blob error", "!21\r\nSYNTAX invalid syntax\r\n"),
        ("null bulk", "$-1\r\n"),
        ("null array", "*-1\r\n"),
        ("big number", "(3492890328409238509324850943850943825024385\r\n"),
        ("double", ",1.23\r\n"),
        ("empty array", "*0\r\n"),
        ("bulk with CRLF inside", "$4\r\n\r\n\r\n\r\n"),
    ]

    @Test(arguments: replies)
    func everyReplyTypeIsOneMessage(name: String, reply: String) {
        var framer = RESPFramer(role: .response)
        let input = buffer(reply, "+OK\r\n")
        let run = frame(&framer, chunks: [input], end: false)
        #expect(run.fallback == nil, "\(name)")
        #expect(run.lengths == [reply.utf8.count, 5], "\(name)")
    }

    @Test func repliesDoNotAcceptInlineText() {
        var framer = RESPFramer(role: .response)
        let run = frame(&framer, chunks: [buffer("+OK\r\nhello\r\n")])
        #expect(run.lengths == [5])
        #expect(run.fallback != nil)
        #expect(String(buffer: run.raw) == "hello\r\n")
    }
}
