import FaultlineCore
import Testing

@testable import FaultlineFraming

/// `Content-Length` as RFC 9110 §8.6 reads it: one decimal number, possibly repeated
/// in a list or in several fields, spaces around each item allowed; anything else makes
/// the connection raw rather than guess.
struct HTTPHeadTests {
    static func head(_ fields: [(String, String)]) -> HTTPHead {
        HTTPHead(startLine: .request(method: "POST", target: "/"), headers: fields.map { .init(name: $0.0, value: $0.1) })
    }

    static func length(_ fields: [(String, String)]) -> Result<Int?, FramingFailure> {
        Result { () throws(FramingFailure) in try Self.head(fields).contentLength() }
    }

    @Test(arguments: [
        ([("Content-Length", "5")], 5),
        ([("content-length", " 42\t")], 42),
        ([("Content-Length", "7, 7 ,7")], 7),
        ([("Content-Length", "3"), ("CONTENT-LENGTH", "3")], 3),
        ([("Content-Length", "0012")], 12),
    ] as [([(String, String)], Int)])
    func aNumberRepeatedIsThatNumber(fields: [(String, String)], expected: Int) throws {
        #expect(try Self.head(fields).contentLength() == expected)
    }

    @Test func withoutTheFieldThereIsNoLength() throws {
        #expect(try Self.head([("Host", "h")]).contentLength() == nil)
    }

    @Test(arguments: [
        ([("Content-Length", "")], "is not a number"),
        ([("Content-Length", "5,")], "is not a number"),
        ([("Content-Length", ",5")], "is not a number"),
        ([("Content-Length", "1 2")], "is not a number"),
        ([("Content-Length", "+5")], "is not a number"),
        ([("Content-Length", "-1")], "is not a number"),
        ([("Content-Length", "99999999999999999999")], "is not a number"),
        ([("Content-Length", "5, 6")], "two different"),
        ([("Content-Length", "5"), ("Content-Length", "6")], "two different"),
    ] as [([(String, String)], String)])
    func anythingElseIsRefusedWithItsReason(fields: [(String, String)], reason: String) {
        guard case .failure(let failure) = Self.length(fields) else {
            Issue.record("\(fields) was accepted")
            return
        }
        #expect(failure.reason.contains(reason), "\(failure.reason)")
    }

    // MARK: Parsing a head in place

    static func parse(_ text: String) -> Result<HTTPHead, FramingFailure> {
        Array(text.utf8).withUnsafeBytes { raw in
            Result { () throws(FramingFailure) in try HTTPHead.parse(head: raw) }
        }
    }

    @Test(arguments: [
        ("GET /a?b=1 HTTP/1.1\r\nHost: h\r\n\r\n", HTTPHead.StartLine.request(method: "GET", target: "/a?b=1")),
        ("HTTP/1.1 404 Not Found Here\r\n\r\n", .status(404)),
        ("HTTP/1.0 200\r\n\r\n", .status(200)),
        ("HTTP/1.1 204 \n\n", .status(204)),
        ("M-SEARCH * HTTP/1.1\n\n", .request(method: "M-SEARCH", target: "*")),
    ])
    func startLinesAreReadAsRFC9112Says(head: String, expected: HTTPHead.StartLine) throws {
        #expect(try Self.parse(head).get().startLine == expected)
    }

    @Test func fieldsKeepTheirOrderAndCaseAndLoseSurroundingWhitespace() throws {
        let head = try Self.parse("POST / HTTP/1.1\r\nHost:h\r\nX-A: \t a b \t\nx-a:\r\n\r\nbody: not a field\r\n").get()
        #expect(head.headers == [.init(name: "Host", value: "h"), .init(name: "X-A", value: "a b"), .init(name: "x-a", value: "")])
        #expect(head.values("X-A") == ["a b", ""])
    }

    @Test(arguments: [
        ("", "empty HTTP head"),
        ("GET /\r\n\r\n", "request line is not METHOD TARGET HTTP/1.x"),
        ("GET  / HTTP/1.1\r\n\r\n", "request line is not METHOD TARGET HTTP/1.x"),
        ("GET /\u{1}a HTTP/1.1\r\n\r\n", "request target with a space or control byte"),
        ("GET / HTTP/1.1 x\r\n\r\n", "request line is not METHOD TARGET HTTP/1.x"),
        ("G(T / HTTP/1.1\r\n\r\n", "request line is not METHOD TARGET HTTP/1.x"),
        ("PRI * HTTP/2.0\r\n\r\n", "HTTP/2 with prior knowledge"),
        ("HTTP/1.1 20 OK\r\n\r\n", "three-digit status"),
        ("HTTP/1.1 099 Early\r\n\r\n", "three-digit status"),
        ("HTTP/1.1\r\n\r\n", "status line is not HTTP/1.x"),
        ("HTTP/1.10 200 OK\r\n\r\n", "status line is not HTTP/1.x"),
        ("GET / HTTP/1.1\r\n folded\r\n\r\n", "obsolete line folding"),
        ("GET / HTTP/1.1\r\nno colon\r\n\r\n", "without a name and colon"),
        ("GET / HTTP/1.1\r\n: empty name\r\n\r\n", "without a name and colon"),
        ("GET / HTTP/1.1\r\nBad Name: v\r\n\r\n", "not a token character"),
        ("GET / HTTP/1.1\r\nName: a\u{7F}b\r\n\r\n", "control byte"),
    ])
    func aHeadThatDoesNotParseSaysWhy(head: String, reason: String) {
        guard case .failure(let failure) = Self.parse(head) else {
            Issue.record("\(head.debugDescription) was accepted")
            return
        }
        #expect(failure.reason.contains(reason), "\(failure.reason)")
    }

    /// RFC 9110 §5.6.2: `tchar` is a letter, a digit or one of ``!#$%&'*+-.^_`|~``;
    /// every other byte (controls, space, separators, non-ASCII) is not.
    @Test func tokenBytesAreExactlyRFC9110sTchar() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8.min...UInt8.max {
            #expect(HTTPHead.isTokenByte(byte) == tchar.contains(byte), "byte \(byte)")
        }
    }
}
