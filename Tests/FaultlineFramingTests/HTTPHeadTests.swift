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
}
