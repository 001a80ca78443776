import CZlib
import Foundation
import NIOCore
import Synchronization

/// An HTTP service shaped like the ones replay met in a trial: orders created with a
/// key and deduplicated by it, a counter, an item a PUT sets, each answer's framing
/// and encoding chosen by the test (`Style`), changeable between recording and replay.
///
/// - `POST /orders`: with an `Idempotency-Key`, the first request creates an order and
///   answers `201`, `Location: /orders/<id>` and `{"id":"<id>",...}`; a repeat gets the
///   saved status and body (without `Location` unless `locationOnReplay`, with a
///   volatile `served_at` when `stampReplays`); the key with another body gets 422.
///   Without a key, every request creates one.
/// - `GET /orders`: `{"count":N}`. `POST /counter`: `{"counter":N}`, one more each time;
///   `GET /counter` reads it. `PUT /items/1`: sets `value`; `GET /items/1` reads it with
///   a volatile `updated_at`.
/// - `GET /banner`: a body with terminal control bytes (ESC, BEL) and a byte that is not
///   UTF-8.
package final class OrdersService: Sendable {
    package struct Style: Sendable {
        /// Bodies sent `Transfer-Encoding: chunked`, in two chunks.
        package var chunked = false
        /// Bodies gzipped when the request accepts gzip.
        package var gzip = false
        /// Replays of a key carry `Location` as the first answer did.
        package var locationOnReplay = false
        /// Replays of a key add `served_at` (a volatile field) to the saved body.
        package var stampReplays = false
        /// Only GET requests are answered; every other request waits forever (a slow
        /// target behind a fast read).
        package var answerOnlyReads = false

        package init() {}
    }

    private struct State {
        var style = Style()
        /// Per key: the request body it was first used with, and the saved answer.
        var orders: [String: (request: [UInt8], status: Int, body: String)] = [:]
        var created = 0
        var counter = 0
        var value = 0
        var clock = 0
    }

    private let state = Mutex(State())
    private let server = Mutex<TestServer?>(nil)

    package var port: Int { self.server.withLock { $0?.port ?? 0 } }
    /// Orders created: one per key for a careful service.
    package var created: Int { self.state.withLock { $0.created } }

    package func setStyle(_ style: Style) {
        self.state.withLock { $0.style = style }
    }

    package static func start(_ style: Style = Style()) async throws -> OrdersService {
        let service = OrdersService()
        service.setStyle(style)
        let server = try await TestServer.http { service.answer($0) }
        service.server.withLock { $0 = server }
        return service
    }

    package func stop() async {
        let server = self.server.withLock { $0 }
        await server?.stop()
    }

    private func answer(_ request: TestHTTPRequest) -> [UInt8]? {
        let style = self.state.withLock { $0.style }
        if style.answerOnlyReads, request.method != "GET" { return nil }
        let gzip = style.gzip && (request.header("accept-encoding") ?? "").contains("gzip")
        let (status, body, location) = self.route(request, style: style)
        return Self.reply(status, body: Array(body.utf8), location: location, chunked: style.chunked, gzip: gzip)
    }

    private func route(_ request: TestHTTPRequest, style: Style) -> (Int, String, String?) {
        self.state.withLock { (state: inout State) -> (Int, String, String?) in
            state.clock += 1
            switch (request.method, request.path) {
            case ("POST", "/orders"):
                let key = request.header("idempotency-key")
                if let key, let saved = state.orders[key] {
                    if saved.request != request.body { return (422, "{\"error\":{\"message\":\"key reused with another payload\"}}", nil) }
                    let body = style.stampReplays ? String(saved.body.dropLast()) + ",\"served_at\":\(state.clock)}" : saved.body
                    let id = saved.body.split(separator: "\"")[3]
                    return (saved.status, body, style.locationOnReplay ? "/orders/\(id)" : nil)
                }
                state.created += 1
                let id = UUID().uuidString.lowercased()
                let body = "{\"id\":\"\(id)\",\"item\":\"book\",\"status\":\"created\"}"
                if let key { state.orders[key] = (request.body, 201, body) }
                return (201, body, "/orders/\(id)")
            case ("GET", "/orders"):
                return (200, "{\"count\":\(state.created)}", nil)
            case ("POST", "/counter"):
                state.counter += 1
                return (200, "{\"counter\":\(state.counter)}", nil)
            case ("GET", "/counter"):
                return (200, "{\"counter\":\(state.counter)}", nil)
            case ("PUT", "/items/1"):
                let json = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]
                state.value = (json?["value"] as? NSNumber)?.intValue ?? 0
                return (200, "{\"id\":1,\"value\":\(state.value),\"updated_at\":\(state.clock)}", nil)
            case ("GET", "/items/1"):
                return (200, "{\"id\":1,\"value\":\(state.value),\"updated_at\":\(state.clock)}", nil)
            case ("GET", "/banner"):
                return (200, "\u{1B}[31mRED\u{1B}[0m\u{07}\u{7F}", nil)
            default:
                return (404, "{\"error\":{\"message\":\"no route\"}}", nil)
            }
        }
    }

    private static func reply(_ status: Int, body: [UInt8], location: String?, chunked: Bool, gzip: Bool) -> [UInt8] {
        let content = gzip ? Self.gzip(body) : body
        var head = "HTTP/1.1 \(status) \([201: "Created", 404: "Not Found", 422: "Unprocessable Content"][status] ?? "OK")\r\n"
            + "Content-Type: application/json\r\nDate: \(Date().timeIntervalSince1970)\r\n"
        if let location { head += "Location: \(location)\r\n" }
        if gzip { head += "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n" }
        guard chunked else {
            return Array((head + "Content-Length: \(content.count)\r\n\r\n").utf8) + content
        }
        head += "Transfer-Encoding: chunked\r\n\r\n"
        let half = content.count / 2
        var out = Array(head.utf8)
        for piece in [content[..<half], content[half...]] where !piece.isEmpty {
            out += Array("\(String(piece.count, radix: 16));note=1\r\n".utf8) + piece + Array("\r\n".utf8)
        }
        return out + Array("0\r\nX-Trailer: done\r\n\r\n".utf8)
    }

    /// `bytes` as one gzip member (zlib, window bits 15 + 16).
    package static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return bytes }
        defer { deflateEnd(&stream) }
        var input = bytes
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 32)
        let written = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                _ = deflate(&stream, Z_FINISH)
                return target.count - Int(stream.avail_out)
            }
        }
        return Array(output[..<written])
    }
}
