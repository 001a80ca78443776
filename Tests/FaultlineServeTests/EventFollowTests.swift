import FaultlineCore
import FaultlineServe
import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

/// `GET /v1/proxies/{p}/events?follow=true` (what `faultline ctl events --follow` reads)
/// follows the proxy, not one file: across its restarts, until it is deleted.
@Suite(.timeLimit(.minutes(2)))
struct EventFollowTests {
    /// Taken down and brought back (toxiproxy-python's `with proxy.down():`), then moved
    /// to another address: each run writes a new log, and the follower reads on from
    /// one to the next without missing an event. Deleting the proxy ends the answer.
    @Test func aFollowerCarriesOnAcrossRestartsAndEndsWhenTheProxyIsDeleted() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-follow-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: directory))
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"tail","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
        let connection = try await TestClient.connect(port: serve.port)
        let lines = try await withTimeout(.seconds(60)) {
            try await connection.executeThenClose { inbound, outbound in
                var reader = try await FollowReader("/v1/proxies/tail/events?follow=true", inbound: inbound, outbound: outbound)
                _ = try await reader.until { $0.contains { $0.contains(#""type":"proxy_start""#) } }

                #expect(try await serve.call("PATCH", "/v1/proxies/tail", body: #"{"enabled":false}"#).status == 200)
                #expect(try await serve.call("PATCH", "/v1/proxies/tail", body: #"{"enabled":true}"#).status == 200)
                #expect(try await Traffic.roundTrip(port: port).ending == .eof("ping"))
                _ = try await reader.until { Self.count("proxy_start", in: $0) == 2 && Self.count("conn_close", in: $0) == 1 }

                let moved = try await serve.call("PATCH", "/v1/proxies/tail", body: #"{"listen":"127.0.0.1:0"}"#)
                #expect(moved.status == 200, "\(moved)")
                let newPort = Traffic.port(of: try #require(moved.json?["listen"]?.stringValue))
                #expect(try await Traffic.roundTrip(port: newPort).ending == .eof("ping"))
                _ = try await reader.until { Self.count("proxy_start", in: $0) == 3 && Self.count("conn_close", in: $0) == 2 }

                #expect(try await serve.call("DELETE", "/v1/proxies/tail").status == 204)
                return try await reader.toEnd()
            }
        }
        // Every run's events, in order, each log read to its end before the next.
        let types = lines.compactMap { line in
            ["proxy_start", "proxy_stop", "conn_close"].first { line.contains(#""type":"\#($0)""#) }
        }
        #expect(
            types == ["proxy_start", "proxy_stop", "proxy_start", "conn_close", "proxy_stop", "proxy_start", "conn_close", "proxy_stop"],
            "\(lines)"
        )
        await serve.stop()
        await upstream.stop()
    }

    /// A follower of a proxy that is deleted ends at once, even when a proxy of the same
    /// name is created again (it is another proxy, with logs of its own).
    @Test func aFollowerOfADeletedProxyEndsEvenWhenTheNameIsTakenAgain() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-follow-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: directory))
        let body = #"{"name":"gone","upstream":"127.0.0.1:\#(upstream.port)"}"#
        #expect(try await serve.call("POST", "/v1/proxies", body: body).status == 201)
        let connection = try await TestClient.connect(port: serve.port)
        let lines = try await withTimeout(.seconds(60)) {
            try await connection.executeThenClose { inbound, outbound in
                var reader = try await FollowReader("/v1/proxies/gone/events?follow=true&type=proxy_stop", inbound: inbound, outbound: outbound)
                // The answer's head: the follower is in place.
                try await reader.head()
                #expect(try await serve.call("DELETE", "/v1/proxies/gone").status == 204)
                let again = try await serve.call("POST", "/v1/proxies", body: body)
                #expect(again.status == 201, "\(again)")
                // Its log is a new file: the old one is not written over.
                #expect(again.json?["log"] == .string("\(directory)/gone.2.jsonl"), "\(again)")
                return try await reader.toEnd()
            }
        }
        #expect(lines.count == 1, "\(lines)")
        #expect(lines.first?.contains(#""type":"proxy_stop""#) == true, "\(lines)")
        await serve.stop()
        await upstream.stop()
    }

    static func count(_ type: String, in lines: [String]) -> Int {
        lines.count { $0.contains(#""type":"\#(type)""#) }
    }
}
