import FaultlineCore
import FaultlineServe
import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

/// A latency or bandwidth toxic removed or relaxed lets go of the data it holds, as
/// Toxiproxy's do when interrupted: it reaches the client at once, byte-exact, and the
/// log says it was released early.
@Suite(.timeLimit(.minutes(2)))
struct ToxicReleaseTests {
    /// What a release may take at most, on a loaded machine, and still be "at once":
    /// far below the toxics' minute.
    static let promptly = Duration.seconds(15)

    static let cases: [(toxic: String, change: String, body: String?)] = [
        (#"{"type":"latency","attributes":{"latency":60000}}"#, "DELETE", nil),
        // 1 KB/s: the 64 KiB echo would take a minute.
        (#"{"type":"bandwidth","attributes":{"rate":1}}"#, "DELETE", nil),
        (#"{"type":"bandwidth","attributes":{"rate":1}}"#, "POST", #"{"attributes":{"rate":100000}}"#),
    ]

    @Test(arguments: Self.cases)
    func aToxicRemovedOrRelaxedReleasesWhatItHolds(toxic: String, change: String, body: String?) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-release-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: directory))
        let made = try await serve.call("POST", "/proxies", body: #"{"name":"p","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
        let added = try await serve.call("POST", "/proxies/p/toxics", body: toxic)
        #expect(added.status == 200, "\(added)")
        let name = try #require(added.json?["name"]?.stringValue)

        let request = String(repeating: "e", count: 64 * 1024)
        let client = Task { try await SocketClient.exchange(port: port, request: request, finish: true, limit: .seconds(120)) }
        _ = try await serve.follow("/v1/proxies/p/events?follow=true") { lines in
            lines.contains { $0.contains(#""type":"fault""#) && $0.contains(#""direction":"downstream""#) }
        }
        let clock = ContinuousClock()
        let changed = clock.now
        let answer = try await serve.call(change, "/proxies/p/toxics/\(name)", body: body)
        #expect(answer.status == (change == "DELETE" ? 204 : 200), "\(answer)")
        let ending = try await withTimeout(.seconds(60)) { try await client.value }
        #expect(ending == .eof(request), "every byte, in order, then the end")
        #expect(clock.now - changed < Self.promptly, "the echo waited for a toxic no longer in force")

        // The proxy's log says the toxic let go early, and its books balance.
        #expect(try await serve.call("DELETE", "/proxies/p").status == 204)
        let text = try String(contentsOfFile: "\(directory)/p.jsonl", encoding: .utf8)
        let events = try text.split(separator: "\n").map { try JSONValue.parse(Data($0.utf8)) }
        let released = events.filter { $0["action"]?.stringValue == "released" }
        // One for each chunk a latency held; one for everything a bandwidth held.
        #expect(!released.isEmpty, "\(text)")
        #expect(released.allSatisfy { $0["rule"]?.stringValue == name && $0["params"]?["reason"]?.stringValue == "plan_change" }, "\(text)")
        let close = try #require(events.first { $0["type"]?.stringValue == "conn_close" })
        #expect(close["bytes_to_client"]?.doubleValue == Double(request.utf8.count), "\(close.text)")
        #expect(close["dropped_downstream"]?.doubleValue ?? 0 == 0, "\(close.text)")
        await serve.stop()
        await upstream.stop()
    }
}
