import FaultlineCore
import FaultlineHost
import FaultlineServe
import FaultlineTestSupport
import Foundation
import Logging
import ServiceLifecycle

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

    static func start(options: ServeOptions = ServeOptions(), token: String? = nil, maxBodyBytes: Int = ControlServer.defaultMaxBodyBytes) async throws -> ServeHarness {
        var logger = Logger(label: "faultline.serve.test")
        logger.logLevel = .warning
        let store = ProxyStore(options: options, logger: logger, launch: HostedProxyLauncher.make(logger: logger))
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
