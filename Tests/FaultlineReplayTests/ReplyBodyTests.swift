import FaultlineChecker
import FaultlineCore
import FaultlineFraming
import Foundation
import FaultlineTestSupport
import Testing

@testable import FaultlineReplay

/// Reply bodies are compared as the service meant them: de-chunked (F2) and with their
/// gzip or deflate `Content-Encoding` undone (F3).
@Suite(.timeLimit(.minutes(1)))
struct ReplyBodyTests {
    static func httpReply(_ head: String, _ body: [UInt8]) -> ReplayReply {
        let bytes = Array((head + "\r\n").utf8) + body
        let headers = head.split(separator: "\r\n").dropFirst().compactMap { line -> MessageInfo.Header? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return MessageInfo.Header(name: String(line[..<colon]), value: String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        return ReplayReply.http(bytes, status: 200, headers: headers)
    }

    @Test func chunksAreJoinedAndTrailersDropped() {
        let body = Array("5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n".utf8)
        #expect(HTTPChunkedBody.decode(body) == Array("hello world".utf8))
        #expect(HTTPChunkedBody.decode(Array("5\nhello\n0\n\n".utf8)) == Array("hello".utf8))
        #expect(HTTPChunkedBody.decode(Array("5\r\nhel".utf8)) == nil)
        #expect(HTTPChunkedBody.decode(Array("zz\r\n".utf8)) == nil)
        #expect(HTTPChunkedBody.isChunked(transferEncoding: ["gzip, Chunked"]))
        #expect(!HTTPChunkedBody.isChunked(transferEncoding: ["chunked, gzip"]))
    }

    @Test func aChunkedJSONReplyIsReadAsJSON() {
        let reply = Self.httpReply(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", Array("8\r\n{\"id\":7,\r\n8\r\n\"n\":10}\r\n0\r\n\r\n".utf8)
        )
        let view = ReplyView(reply, wire: .http, ignoring: [])
        #expect(view.body == #"{"id":7,"n":10}"#)
        #expect(view.numbers == [7, 10])
        #expect(reply.note == nil)
    }

    @Test func aGzipBodyIsInflatedAndABadOneKeptWithANote() throws {
        let json = Array(#"{"id":"a","updated_at":1}"#.utf8)
        let good = Self.httpReply("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n", OrdersService.gzip(json))
        #expect(good.body == json && good.note == nil)
        #expect(ReplyView(good, wire: .http, ignoring: []).body == #"{"id":"a"}"#)
        let bad = Self.httpReply("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n", Array("not gzip".utf8))
        #expect(bad.body == Array("not gzip".utf8))
        #expect(bad.note?.contains("compared as received") == true, "\(bad.note ?? "")")
        let brotli = Self.httpReply("HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n", [1, 2, 3])
        #expect(brotli.body == [1, 2, 3] && brotli.note?.contains("br") == true)
    }

    /// `deflate` is zlib-wrapped by RFC 9110; some servers send it raw: both inflate.
    @Test func deflateIsReadWrappedOrRaw() throws {
        let text = Array("hello hello hello".utf8)
        let gzip = OrdersService.gzip(text)
        // A gzip member's deflate data sits between its 10-byte header and 8-byte trailer.
        let raw = Array(gzip[10..<(gzip.count - 8)])
        #expect(try ContentDecoding.decode(raw, contentEncoding: ["deflate"]) == text)
        #expect(try ContentDecoding.decode(gzip, contentEncoding: ["x-gzip"]) == text)
    }

    /// An idempotent PUT, probed by a read whose body is chunked and carries a volatile
    /// `updated_at`: idempotent, no finding (the trial said CRIT SR-05, HIGH SR-01).
    @Test func anIdempotentPutProbedThroughChunkedRepliesIsIdempotent() async throws {
        let service = try await OrdersService.start()
        defer { Task { await service.stop() } }
        var style = OrdersService.Style()
        style.chunked = true
        let report = try await OrdersReplay.check(service, style: style, requests: [OrdersReplay.put()], probes: ["GET /items/1"])
        #expect(report.findings.isEmpty, "\(report.findings.map(\.message))")
        #expect(OrdersReplay.verdict(report, "PUT /items/{id}")?.classification == .idempotent, "\(report.operations ?? [])")
    }

    /// A careful keyed create answering in chunks, replays stamped with `served_at`: SR-02
    /// compares the bodies, not the chunk sizes (the trial said `72  {...` vs `ad  {...`).
    @Test func aKeyedCreateAnsweringInChunksIsDeduplicated() async throws {
        let service = try await OrdersService.start()
        defer { Task { await service.stop() } }
        var style = OrdersService.Style()
        style.chunked = true
        style.stampReplays = true
        style.locationOnReplay = true
        let report = try await OrdersReplay.check(service, style: style, requests: [OrdersReplay.order(key: "k-2")], probes: ["GET /orders"])
        #expect(report.findings.isEmpty, "\(report.findings.map(\.message))")
        #expect(OrdersReplay.verdict(report, "POST /orders")?.classification == .deduplicatedByKey, "\(report.operations ?? [])")
    }

    /// An unkeyed create answering its new ids in chunks, no probe: at least once (the
    /// trial said inconclusive), and the step rows show the body, not a chunk size.
    @Test func anUnkeyedCreateAnsweringInChunksIsAtLeastOnce() async throws {
        let service = try await OrdersService.start()
        defer { Task { await service.stop() } }
        var style = OrdersService.Style()
        style.chunked = true
        let report = try await OrdersReplay.check(service, style: style, requests: [OrdersReplay.order(key: nil)])
        #expect(OrdersReplay.verdict(report, "POST /orders")?.classification == .atLeastOnce, "\(report.operations ?? [])")
        let sr01 = try #require(report.findings.first { $0.rule == "SR-01" })
        #expect(sr01.requests.allSatisfy { $0.contains(#"→ 201 {"id":"#) }, "\(sr01.requests)")
    }

    /// A client that accepts gzip, replayed as recorded, gets gzipped answers: compared
    /// inflated, the careful create is clean (the trial said HIGH).
    @Test func aKeyedCreateAnsweringInGzipIsDeduplicated() async throws {
        let service = try await OrdersService.start()
        defer { Task { await service.stop() } }
        var style = OrdersService.Style()
        style.gzip = true
        style.stampReplays = true
        style.locationOnReplay = true
        let report = try await OrdersReplay.check(
            service, style: style, requests: [OrdersReplay.order(key: "gz-3", acceptGzip: true)], probes: ["GET /orders"]
        )
        #expect(report.findings.isEmpty, "\(report.findings.map(\.message))")
        #expect(OrdersReplay.verdict(report, "POST /orders")?.classification == .deduplicatedByKey, "\(report.operations ?? [])")
        #expect(!report.rules.contains { $0.evidence.contains("note:") })
    }
}
