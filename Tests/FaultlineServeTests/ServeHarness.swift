import FaultlineCore
import FaultlineHost
import FaultlineServe
import FaultlineTestSupport
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Testing

/// A control server in this process on 127.0.0.1:0, with real proxies, driven over
/// real HTTP (one connection per request, `Connection: close`).
final class ServeHarness: Sendable {
    let port: Int
    let api: ControlAPI
    private let server: ControlServer
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    private init(port: Int, api: ControlAPI, server: ControlServer, group: ServiceGroup, running: Task<Void, any Error>) {
        self.port = port
        self.api = api
        self.server = server
        self.group = group
        self.running = running
    }

    /// `launch` wraps the real launcher, for a test that needs a start to fail.
    static func start(
        options: ServeOptions = ServeOptions(),
        token: String? = nil,
        maxBodyBytes: Int = ControlServer.defaultMaxBodyBytes,
        launch: (@Sendable (ProxySpec, ProxyLauncher) async throws -> any ControlledProxy)? = nil
    ) async throws -> ServeHarness {
        var options = options
        options.connectTimeout = .nanoseconds(testDialTimeout.nanoseconds)
        var logger = Logger(label: "faultline.serve.test")
        logger.logLevel = .warning
        let real = HostedProxyLauncher.make(logger: logger)
        var launcher = real
        if let launch {
            launcher = { @Sendable spec in try await launch(spec, real) }
        }
        let store = ProxyStore(options: options, logger: logger, launch: launcher)
        let api = ControlAPI(store: store, metrics: ServeMetrics(), token: token, loader: ProfileLoader(), version: "test", logger: logger)
        let server = ControlServer(api: api, address: HostPort(host: "127.0.0.1", port: 0), maxBodyBytes: maxBodyBytes, logger: logger)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let group = server.serviceGroup { address in continuation.yield(address.port) }
        let running = Task { try await group.run() }
        let port = try await withTimeout(.seconds(30)) {
            for await port in ports { return port }
            throw HarnessError("the server stopped before it listened")
        }
        return ServeHarness(port: port, api: api, server: server, group: group, running: running)
    }

    /// Stops the API, then every proxy.
    func stop() async {
        await self.group.triggerGracefulShutdown()
        _ = try? await self.running.value
        await self.server.close()
    }

    struct Reply: Sendable, CustomStringConvertible {
        var status: Int
        /// Lowercased names.
        var headers: [String: String]
        var body: String

        var json: JSONValue? { try? JSONValue.parse(Data(self.body.utf8)) }
        var description: String { "\(self.status) \(self.body)" }
    }

    /// One request over a new connection.
    func call(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) async throws -> Reply {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let payload = body ?? ""
        head += "Content-Length: \(payload.utf8.count)\r\n\r\n"
        let ending = try await SocketClient.exchange(port: self.port, request: head + payload, limit: .seconds(30))
        return try Self.parse(ending.received)
    }

    static func parse(_ text: String) throws -> Reply {
        guard let split = text.range(of: "\r\n\r\n") else { throw HarnessError("no HTTP head in: \(text.prefix(200))") }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = String(text[split.upperBound...])
        if headers["transfer-encoding"] == "chunked" {
            var decoded = ""
            var rest = Substring(body)
            while let end = rest.range(of: "\r\n"), let size = Int(rest[..<end.lowerBound], radix: 16), size > 0 {
                let start = end.upperBound
                let stop = rest.utf8.index(start, offsetBy: size)
                decoded += rest[start..<stop]
                rest = rest[stop...].dropFirst(2)
            }
            body = decoded
        }
        return Reply(status: status, headers: headers, body: body)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Small traffic helpers over the real proxies.
enum Traffic {
    /// Sends `text` through 127.0.0.1:`port`, half-closes, and returns what came back
    /// and how long the whole exchange took.
    static func roundTrip(port: Int, _ text: String = "ping") async throws -> (ending: SocketClient.Ending, elapsed: Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        let ending = try await SocketClient.exchange(port: port, request: text, finish: true, limit: .seconds(20))
        return (ending, clock.now - start)
    }

    static func port(of listen: String) -> Int {
        Int(listen.split(separator: ":").last ?? "") ?? 0
    }
}

extension ServeHarness {
    /// `POST /v1/proxies` with `body`, which must be taken (201): the proxy as the server
    /// answers it.
    func create(_ body: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue {
        let reply = try await self.call("POST", "/v1/proxies", body: body)
        try #require(reply.status == 201, "\(reply)", sourceLocation: sourceLocation)
        return try #require(reply.json, sourceLocation: sourceLocation)
    }

    /// The `faultline_faults_injected_total` line of one rule on /metrics, nil before it
    /// first fired: compared before and after some traffic, it says whether the rule
    /// acted on it, which no timing on a loaded machine can.
    func faultsLine(proxy: String, rule: String) async throws -> String? {
        let body = try await self.call("GET", "/metrics").body
        let prefix = #"faultline_faults_injected_total{proxy=""# + proxy + #"",rule=""# + rule + "\""
        return body.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init)
    }

    /// Follows an events route (`…/events?follow=true`) over one connection and returns
    /// the event lines read so far once `enough` says they are enough: the events are
    /// awaited as the server streams them, never polled for.
    func follow(_ path: String, within limit: Duration = .seconds(30), until enough: @escaping @Sendable ([String]) -> Bool) async throws -> [String] {
        let connection = try await TestClient.connect(port: self.port)
        return try await withTimeout(limit) {
            try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
                var body = ChunkedBody()
                for try await chunk in inbound {
                    try body.feed(chunk)
                    if enough(body.lines) { return body.lines }
                }
                throw HarnessError("the answer to \(path) ended before the events came; got \(body.lines)")
            }
        }
    }
}

/// A streamed events answer read a step at a time, so a test can act between steps
/// (restart the proxy once the follower has its first events, then await the next).
struct FollowReader {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private(set) var body = ChunkedBody()

    /// Sends `GET path` on `connection` and reads nothing yet.
    init(_ path: String, inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        try await outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        self.iterator = inbound.makeAsyncIterator()
    }

    /// Reads until the answer's head has come: the server has the follower in place.
    mutating func head() async throws {
        while self.body.status == 0 {
            guard let chunk = try await self.iterator.next() else { throw HarnessError("the connection closed before the answer") }
            try self.body.feed(chunk)
        }
    }

    /// Reads until `enough` says the event lines so far are enough, and returns them.
    mutating func until(_ enough: ([String]) -> Bool) async throws -> [String] {
        while !enough(self.body.lines) {
            guard !self.body.ended, let chunk = try await self.iterator.next() else {
                throw HarnessError("the answer ended before the events came; got \(self.body.lines)")
            }
            try self.body.feed(chunk)
        }
        return self.body.lines
    }

    /// Reads until the server ends the answer (its last chunk), and returns every line.
    mutating func toEnd() async throws -> [String] {
        while !self.body.ended {
            guard let chunk = try await self.iterator.next() else {
                throw HarnessError("the connection closed before the answer ended; got \(self.body.lines)")
            }
            try self.body.feed(chunk)
        }
        return self.body.lines
    }
}

/// An HTTP/1.1 answer read as it arrives: the head, then a chunked body cut into its
/// complete, non-blank lines.
struct ChunkedBody {
    private var pending: [UInt8] = []
    private var headRead = false
    private var text: [UInt8] = []
    private(set) var status = 0
    /// The last chunk (size 0) came: the answer is complete.
    private(set) var ended = false

    var lines: [String] {
        guard let last = self.text.lastIndex(of: 0x0A) else { return [] }
        return String(decoding: self.text[...last], as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    mutating func feed(_ buffer: ByteBuffer) throws {
        self.pending += buffer.readableBytesView
        if !self.headRead {
            guard let end = Self.find([13, 10, 13, 10], in: self.pending, from: 0) else { return }
            let head = String(decoding: self.pending[..<end], as: UTF8.self)
            self.status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
            guard self.status == 200, head.lowercased().contains("transfer-encoding: chunked") else {
                throw HarnessError("expected a streamed 200 answer, got: \(head)")
            }
            self.pending.removeFirst(end + 4)
            self.headRead = true
        }
        while let lineEnd = Self.find([13, 10], in: self.pending, from: 0),
            let size = Int(String(decoding: self.pending[..<lineEnd], as: UTF8.self), radix: 16),
            self.pending.count >= lineEnd + 2 + size + 2
        {
            self.text += self.pending[(lineEnd + 2)..<(lineEnd + 2 + size)]
            self.pending.removeFirst(lineEnd + 2 + size + 2)
            if size == 0 { self.ended = true }
        }
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        for index in start...(bytes.count - needle.count) where Array(bytes[index..<(index + needle.count)]) == needle {
            return index
        }
        return nil
    }
}

/// The one `conn_close` a proxy's log holds (the test recorded one exception if not), and
/// its numbers by key (-1 for a key it lacks).
func onlyConnectionClose(inLog path: String) throws -> (event: JSONValue, number: (String) -> Int) {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let closes = try text.split(separator: "\n").map { try JSONValue.parse(Data($0.utf8)) }
        .filter { $0["type"]?.stringValue == "conn_close" }
    #expect(closes.count == 1, "\(text)")
    let close = try #require(closes.first)
    return (close, { Int(close[$0]?.doubleValue ?? -1) })
}
