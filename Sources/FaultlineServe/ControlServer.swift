import FaultlineCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals
import Synchronization

/// `faultline serve`'s HTTP server: Hummingbird on its own event loops (never the
/// proxies'), one responder for every route, and a graceful stop that closes the API
/// first, then drains every proxy and flushes its records.
package struct ControlServer: Sendable {
    package let api: ControlAPI
    package let address: HostPort
    /// Largest request body read; a larger one gets 413 before it is parsed.
    package let maxBodyBytes: Int
    /// The API's own event loop, never one a proxy runs on; shut it down after the
    /// service group has run (`close()`).
    package let eventLoopGroup: MultiThreadedEventLoopGroup
    let logger: Logger

    package static let defaultMaxBodyBytes = 1 << 20

    package init(api: ControlAPI, address: HostPort, maxBodyBytes: Int = Self.defaultMaxBodyBytes, logger: Logger) {
        self.api = api
        self.address = address
        self.maxBodyBytes = maxBodyBytes
        self.eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.logger = logger
    }

    /// Releases the API's event loop, once its service group has finished.
    package func close() async {
        try? await self.eventLoopGroup.shutdownGracefully()
    }

    /// The services to run: the store (stopped last) and the HTTP server. `onRunning`
    /// gets the address really bound (the real port when port 0 was asked for).
    package func serviceGroup(
        signals: [UnixSignal] = [],
        onRunning: @escaping @Sendable (HostPort) async -> Void = { _ in }
    ) -> ServiceGroup {
        let requested = self.address
        let application = Application(
            responder: ControlResponder(api: self.api, maxBodyBytes: self.maxBodyBytes),
            configuration: ApplicationConfiguration(address: .hostname(self.address.host, port: self.address.port), serverName: nil, reuseAddress: true),
            onServerRunning: { channel in
                let bound = channel.localAddress
                await onRunning(HostPort(host: bound?.ipAddress ?? requested.host, port: bound?.port ?? requested.port))
            },
            eventLoopGroupProvider: .shared(self.eventLoopGroup),
            logger: self.logger
        )
        return ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [StoreService(store: self.api.store), application],
                gracefulShutdownSignals: signals,
                logger: self.logger
            )
        )
    }
}

/// Holds the proxies for the server's life; on graceful shutdown (after the HTTP
/// server, which stops first) stops every proxy and flushes its records.
struct StoreService: Service {
    let store: ProxyStore

    func run() async throws {
        try? await gracefulShutdown()
        await self.store.shutdown()
    }
}

/// Turns Hummingbird requests into `APIRequest`s and `APIResponse`s back.
struct ControlResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let api: ControlAPI
    let maxBodyBytes: Int

    func respond(to request: Request, context: Context) async throws -> Response {
        var headers: [String: String] = [:]
        for field in request.headers {
            headers[field.name.canonicalName] = headers[field.name.canonicalName].map { "\($0), \(field.value)" } ?? field.value
        }
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            query[String(key)] = String(value)
        }
        let path = request.uri.path
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: self.maxBodyBytes)
        } catch {
            let refusal = ServeError(413, "request body too large: at most \(self.maxBodyBytes) bytes")
            return Self.response(path.hasPrefix("/v1/") ? .nativeError(refusal) : .toxiproxyError(refusal))
        }
        let answer = await self.api.respond(
            to: APIRequest(method: request.method.rawValue, path: path, query: query, headers: headers, body: Array(body.readableBytesView))
        )
        return Self.response(answer)
    }

    static func response(_ answer: APIResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        let status = HTTPResponse.Status(code: answer.status)
        switch answer.body {
        case .bytes(let bytes):
            return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        case .follow(let path, let offset, let backlog, let type, let current):
            let body = ResponseBody { writer in
                if !backlog.isEmpty { try await writer.write(ByteBuffer(bytes: backlog)) }
                var path = path
                var offset = offset
                let stopping = StopFlag()
                try await withGracefulShutdownHandler {
                    var quiet = 0
                    while !Task.isCancelled, !stopping.value.load(ordering: .relaxed) {
                        var (lines, end) = EventTail.since(offset, of: path, type: type)
                        offset = end
                        if lines.isEmpty {
                            // Nothing new in this log. The proxy may have started again
                            // (a new log) or gone; either way this log is complete once
                            // the store says so, so read it to its end first.
                            let now = await current()
                            if now != path {
                                (lines, _) = EventTail.since(offset, of: path, type: type)
                                if !lines.isEmpty { try await writer.write(ByteBuffer(string: lines.map { $0 + "\n" }.joined())) }
                                guard let now else { break }
                                (path, offset, quiet) = (now, 0, 0)
                                continue
                            }
                            // The log is a file another thread writes: look again soon.
                            try await Task.sleep(for: .milliseconds(100))
                            quiet += 1
                            // A blank line every 5 s of quiet: a client that went away
                            // fails the write, and its follower ends.
                            if quiet >= 50 {
                                quiet = 0
                                try await writer.write(ByteBuffer(string: "\n"))
                            }
                        } else {
                            quiet = 0
                            try await writer.write(ByteBuffer(string: lines.map { $0 + "\n" }.joined()))
                        }
                    }
                } onGracefulShutdown: {
                    stopping.value.store(true, ordering: .relaxed)
                }
                try await writer.finish(nil)
            }
            return Response(status: status, headers: fields, body: body)
        }
    }
}

/// Set once the server begins to stop: followers of an event log end their answer.
final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}
