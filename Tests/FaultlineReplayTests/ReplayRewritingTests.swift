import FaultlineCore
import Foundation
import Testing

@testable import FaultlineReplay

/// The byte-level edits replay makes to a recorded request, and how answers are
/// normalised before they are compared.
struct ReplayRewritingTests {
    static let recorded = Array(
        ("POST /charges HTTP/1.1\r\nHost: api.test\r\nidempotency-key: \"old\"\r\nContent-Length: 27\r\n\r\n"
            + #"{"amount": 10, "memo":"a"}"# + " ").utf8
    )

    @Test func aFreshKeyChangesThatHeaderValueAndNothingElse() throws {
        let request = try #require(HTTPRequestBytes(Self.recorded))
        #expect(request.bytes == Self.recorded)
        let rewritten = request.settingHeader("Idempotency-Key", to: "\"new\"").bytes
        let expected = String(decoding: Self.recorded, as: UTF8.self).replacingOccurrences(of: "\"old\"", with: "\"new\"")
        #expect(String(decoding: rewritten, as: UTF8.self) == expected)
        // The recorded header name's spelling is kept.
        #expect(String(decoding: rewritten, as: UTF8.self).contains("idempotency-key: \"new\""))
    }

    @Test func removingTheKeyLeavesTheRestInOrder() throws {
        let request = try #require(HTTPRequestBytes(Self.recorded))
        let text = String(decoding: request.removingHeader("Idempotency-Key").bytes, as: UTF8.self)
        #expect(text.hasPrefix("POST /charges HTTP/1.1\r\nHost: api.test\r\nContent-Length: 27\r\n\r\n"))
    }

    @Test func oneJSONFieldChangesInPlaceAndContentLengthFollows() throws {
        let request = try #require(HTTPRequestBytes(Self.recorded))
        let change = try #require(JSONFieldChange.first(in: request.body))
        #expect(change.description == "amount 10 → 11")
        let changed = request.replacingBody(change.body)
        #expect(String(decoding: changed.body, as: UTF8.self) == #"{"amount": 11, "memo":"a"}"# + " ")
        #expect(changed.header("Content-Length") == "27")
        #expect(change.appears(in: Array(#"{"id":1,"amount":11}"#.utf8)))
        #expect(!change.appears(in: Array(#"{"id":1,"amount":10}"#.utf8)))
    }

    @Test func aStringFieldIsChangedWhenThereIsNoNumber() throws {
        let change = try #require(JSONFieldChange.first(in: Array(#"{"to":"bob","note":"x"}"#.utf8)))
        #expect(change.field == "note")
        #expect(String(decoding: change.body, as: UTF8.self) == #"{"to":"bob","note":"x-changed"}"#)
    }

    static func reply(_ body: String, status: Int = 201, headers: [(String, String)] = []) -> ReplayReply {
        ReplayReply(bytes: Array(body.utf8), status: status, headers: headers.map { .init(name: $0.0, value: $0.1) }, body: Array(body.utf8))
    }

    @Test func volatileFieldsAndIgnoredPathsAreLeftOutOfTheComparison() {
        let first = ReplyView(
            Self.reply(#"{"id":"ch_1","created_at":"09:00","charge":{"updated_at":1,"fee":2},"items":[{"id":1,"at":5}]}"#),
            wire: .http, ignoring: [["items[*]", "at"]]
        )
        let again = ReplyView(
            Self.reply(#"{"charge":{"fee":2,"updated_at":9},"created_at":"09:01","id":"ch_1","items":[{"id":1,"at":6}]}"#),
            wire: .http, ignoring: [["items[*]", "at"]]
        )
        #expect(first == again)
        #expect(first.resource?.description == "ch_1")
        #expect(first.body == #"{"charge":{"fee":2},"id":"ch_1","items":[{"id":1}]}"#)
    }

    @Test func locationNamesTheResource() {
        let view = ReplyView(Self.reply("", headers: [("Location", "/charges/7")]), wire: .http, ignoring: [])
        #expect(view.resource?.description == "/charges/7")
    }

    @Test func respRepliesCompareAsTheirValues() {
        #expect(ReplyView(Self.reply(":5\r\n", status: 0), wire: .resp, ignoring: []).numbers == [5])
        #expect(RESPValueText.text(Array("$5\r\nalice\r\n".utf8)) == "alice")
        #expect(RESPValueText.text(Array("$-1\r\n".utf8)) == "(nil)")
        #expect(RESPValueText.text(Array("*2\r\n$1\r\na\r\n:3\r\n".utf8)) == "a 3")
        #expect(RESPCommand.words(RESPCommand.encode(["SET", "k", "v w"])) == ["SET", "k", "v w"])
    }

    /// A probe's reading stays on one line in progress lines and reports.
    @Test func aReadingIsSummedUpOnOneLine() {
        let view = ReplyView(Self.reply("hello\r\nfrom the upstream\n", status: 200), wire: .http, ignoring: [])
        #expect(StateSnapshot(readings: [view]).summary == "200 hello\\r\\nfrom the upstream")
    }

    @Test func effectsAreCountedInUnitsOfOneApplication() {
        #expect(StateSnapshot.effects(total: [50, 0], unit: [10, 0]) == 5)
        #expect(StateSnapshot.effects(total: [10, 0], unit: [10, 0]) == 1)
        #expect(StateSnapshot.effects(total: [15, 0], unit: [10, 0]) == nil)
        #expect(StateSnapshot.effects(total: [0], unit: [0]) == nil)
    }
}
