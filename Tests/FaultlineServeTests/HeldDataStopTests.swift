import FaultlineCore
import FaultlineServe
import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

/// Deleting or disabling a proxy closes its open connections at once, even while a
/// latency or bandwidth toxic holds data on them: the held bytes are discarded and the
/// log counts them as dropped. So the answer comes at once, and neither this proxy nor
/// the API's other writes wait for a delay that would have lasted a minute.
@Suite(.timeLimit(.minutes(2)))
struct HeldDataStopTests {
    /// What a change may take at most, on a loaded machine, and still be "at once":
    /// far below the toxics' minute.
    static let promptly = Duration.seconds(15)

    static let cases: [(stop: String, toxic: String)] = [
        ("DELETE", #"{"type":"latency","attributes":{"latency":60000}}"#),
        ("disable", #"{"type":"latency","attributes":{"latency":60000}}"#),
        // 1 KB/s: the 64 KiB echo would take a minute.
        ("DELETE", #"{"type":"bandwidth","attributes":{"rate":1}}"#),
    ]

    @Test(arguments: Self.cases)
    func aProxyStopsAtOnceWhileAToxicHoldsData(stop: String, toxic: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-held-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (echoed, echoedSoFar) = AsyncStream<Int>.makeStream()
        let upstream = try await TestServer.echo(reporting: echoedSoFar)
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: directory))
        let made = try await serve.call("POST", "/proxies", body: #"{"name":"held","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        #expect(made.status == 201, "\(made)")
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
        let added = try await serve.call("POST", "/proxies/held/toxics", body: toxic)
        #expect(added.status == 200, "\(added)")

        let request = String(repeating: "r", count: 64 * 1024)
        let client = Task { try await SocketClient.exchange(port: port, request: request, limit: .seconds(120)) }
        // The echo has come back to the proxy, and the toxic holds it: its rule fired,
        // and the whole echo is in the proxy's socket, which at the toxic's rate takes a
        // minute to leave (the first chunk alone, half a second, could be gone before a
        // loaded machine made the stop's request).
        _ = try await serve.follow("/v1/proxies/held/events?follow=true") { lines in
            lines.contains { $0.contains(#""type":"fault""#) && $0.contains(#""direction":"downstream""#) }
        }
        try await TestServer.untilEchoed(request.utf8.count, in: echoed)

        let clock = ContinuousClock()
        let started = clock.now
        // Another proxy's change meanwhile: API writes are taken one at a time, so it
        // would wait behind a stop that waited.
        let other = Task {
            try await serve.call("POST", "/proxies", body: #"{"name":"other","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        }
        let stopped =
            stop == "DELETE"
            ? try await serve.call("DELETE", "/proxies/held")
            : try await serve.call("POST", "/proxies/held", body: #"{"enabled":false}"#)
        let took = clock.now - started
        #expect(stopped.status == (stop == "DELETE" ? 204 : 200), "\(stopped)")
        #expect(took < Self.promptly, "\(stop) waited \(took) for data a toxic held")
        let otherMade = try await other.value
        #expect(otherMade.status == 201, "\(otherMade)")
        #expect(clock.now - started < Self.promptly, "another proxy's creation waited for the stop")

        let ending = try await withTimeout(.seconds(30)) { try await client.value }
        #expect(ending.received.utf8.count < request.utf8.count, "held data is discarded, not delivered")

        // The log was written as the proxy stopped: its books balance, the held bytes
        // counted as dropped.
        let (close, number) = try onlyConnectionClose(inLog: "\(directory)/held.jsonl")
        #expect(close["reason"]?.stringValue == "shutdown", "\(close.text)")
        #expect(number("bytes_to_client") == ending.received.utf8.count, "\(close.text)")
        #expect(number("dropped_downstream") > 0, "\(close.text)")
        #expect(number("bytes_from_upstream") == number("bytes_to_client") + number("dropped_downstream"), "\(close.text)")
        #expect(number("bytes_from_client") == number("bytes_to_upstream") + number("dropped_upstream"), "\(close.text)")
        await serve.stop()
        await upstream.stop()
    }
}
