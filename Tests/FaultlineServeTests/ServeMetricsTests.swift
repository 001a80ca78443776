import FaultlineCore
import FaultlineServe
import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

/// `/metrics` as a scrape sees it: faults labelled with their kind, on both transports.
@Suite(.timeLimit(.minutes(2)))
struct ServeMetricsTests {
    /// Message faults (`respond`, `duplicate`) keep their kind on /metrics, whether the
    /// scrape comes while their rule is on the plan or after it was taken off, and a
    /// rule taken off is not counted twice.
    @Test func messageFaultsAreCountedUnderTheirKind() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-kinds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: directory))
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"k","upstream":"127.0.0.1:\#(upstream.port)","framing":"line"}"#)
        #expect(made.status == 201, "\(made)")
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))

        // Scraped while on the plan, then again after it is taken off.
        let respond = try await serve.call("POST", "/v1/proxies/k/rules", body: #"{"name":"answer","match":{"direction":"upstream"},"fault":{"kind":"respond","body":"no\n"}}"#)
        #expect(respond.status == 201, "\(respond)")
        #expect(try await Traffic.roundTrip(port: port, "ping\n").ending.received == "no\n")
        _ = try await serve.follow("/v1/proxies/k/events?type=fault&limit=100&follow=true") { $0.count >= 1 }
        let during = try await serve.call("GET", "/metrics").body
        #expect(during.contains(#"faultline_faults_injected_total{proxy="k",rule="answer",kind="respond"} 1"#), "\(during)")
        #expect(try await serve.call("DELETE", "/v1/proxies/k/rules/answer").status == 204)
        let after = try await serve.call("GET", "/metrics").body
        #expect(after.contains(#"faultline_faults_injected_total{proxy="k",rule="answer",kind="respond"} 1"#), "\(after)")

        // Taken off before any scrape saw it.
        let duplicate = try await serve.call("POST", "/v1/proxies/k/rules", body: #"{"name":"twice","match":{"direction":"upstream"},"fault":{"kind":"duplicate"}}"#)
        #expect(duplicate.status == 201, "\(duplicate)")
        #expect(try await Traffic.roundTrip(port: port, "ping\n").ending == .eof("ping\n"))
        _ = try await serve.follow("/v1/proxies/k/events?type=fault&limit=100&follow=true") { $0.count >= 2 }
        #expect(try await serve.call("DELETE", "/v1/proxies/k/rules/twice").status == 204)
        let later = try await serve.call("GET", "/metrics").body
        #expect(later.contains(#"faultline_faults_injected_total{proxy="k",rule="twice",kind="duplicate"} 1"#), "\(later)")
        #expect(!later.contains(#"kind="unknown""#), "\(later)")
        await serve.stop()
        await upstream.stop()
    }

    /// Datagram faults are counted under their kind too (`loss` here), their rule on
    /// the plan or not.
    @Test func datagramFaultsAreCountedUnderTheirKind() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-kinds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let echo = try await TestDatagramEcho.start()
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: directory))
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"u","transport":"udp","upstream":"127.0.0.1:\#(echo.port)"}"#)
        #expect(made.status == 201, "\(made)")
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
        let rule = try await serve.call("POST", "/v1/proxies/u/rules", body: #"{"name":"lose","match":{"direction":"upstream"},"fault":{"kind":"loss"}}"#)
        #expect(rule.status == 201, "\(rule)")

        let client = try await TestDatagram.bind()
        let proxy = try TestDatagram.loopback(port)
        try await client.executeThenClose { _, outbound in
            try await outbound.write(AddressedEnvelope(remoteAddress: proxy, data: TestDatagram.numbered(1)))
        }
        _ = try await serve.follow("/v1/proxies/u/events?type=fault&limit=100&follow=true") { $0.count >= 1 }
        let during = try await serve.call("GET", "/metrics").body
        #expect(during.contains(#"faultline_faults_injected_total{proxy="u",rule="lose",kind="loss"} 1"#), "\(during)")
        #expect(try await serve.call("DELETE", "/v1/proxies/u/rules/lose").status == 204)
        let after = try await serve.call("GET", "/metrics").body
        #expect(after.contains(#"faultline_faults_injected_total{proxy="u",rule="lose",kind="loss"} 1"#), "\(after)")
        #expect(!after.contains(#"kind="unknown""#), "\(after)")
        await serve.stop()
        await echo.stop()
    }

    /// A disabled proxy has no connections open on /metrics, and a deleted proxy's
    /// gauges go (its counters stay).
    @Test func aDeletedProxysGaugesGoAndADisabledOneHasNoConnections() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"g","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
        let open = try await TestClient.connect(port: port)
        try await open.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            try await outbound.write(ByteBuffer(string: "hello"))
            #expect(String(buffer: try await TestClient.read(atLeast: 5, from: &iterator)) == "hello")
            let during = try await serve.call("GET", "/metrics").body
            #expect(during.contains(#"faultline_connections_open{proxy="g"} 1"#), "\(during)")
            #expect(during.contains(#"faultline_plan_version{proxy="g"} 1"#), "\(during)")
            #expect(try await serve.call("PATCH", "/v1/proxies/g", body: #"{"enabled":false}"#).status == 200)
        }
        let disabled = try await serve.call("GET", "/metrics").body
        #expect(disabled.contains(#"faultline_connections_open{proxy="g"} 0"#), "\(disabled)")

        #expect(try await serve.call("DELETE", "/v1/proxies/g").status == 204)
        let deleted = try await serve.call("GET", "/metrics").body
        #expect(!deleted.contains(#"faultline_connections_open{proxy="g"}"#), "\(deleted)")
        #expect(!deleted.contains(#"faultline_plan_version{proxy="g"}"#), "\(deleted)")
        #expect(deleted.contains(#"faultline_connections_total{proxy="g"} 1"#), "\(deleted)")
        await serve.stop()
        await upstream.stop()
    }
}
