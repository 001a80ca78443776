import FaultlineCore
import FaultlineHost
import FaultlineRecords
import FaultlineServe
import FaultlineTestSupport
import Foundation
import Logging
import NIOCore
import Pcap
import Synchronization
import Testing

/// Packet captures started and stopped through /v1, read back from the file; the log
/// and capture drops on /metrics.
@Suite(.timeLimit(.minutes(2)))
struct CaptureAPITests {
    /// Without `--pcap DIR` nothing is captured until asked; what passes while the
    /// capture runs is in the file, both legs both ways, and nothing from before or after.
    @Test func aCaptureStartedAndStoppedThroughTheAPIHoldsTheTrafficBetween() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"cap","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        #expect(made.status == 201, "\(made)")
        #expect(made.json?["pcap"] == .null)
        let listen = try #require(made.json?["listen"]?.stringValue)
        let port = Traffic.port(of: listen)
        let idle = try await serve.call("GET", "/v1/proxies/cap/pcap")
        #expect(idle.status == 200, "\(idle)")
        #expect(idle.json?["capturing"] == .bool(false))
        #expect(idle.json?["file"] == .null)
        #expect(try await Traffic.roundTrip(port: port, "before-capture").ending == .eof("before-capture"))

        let started = try await serve.call("POST", "/v1/proxies/cap/pcap")
        #expect(started.status == 201, "\(started)")
        #expect(started.json?["capturing"] == .bool(true))
        let file = try #require(started.json?["file"]?.stringValue)
        defer { try? FileManager.default.removeItem(atPath: (file as NSString).deletingLastPathComponent) }
        #expect(file.hasSuffix("/cap.pcap"), "\(file)")
        let shown = try await serve.call("GET", "/v1/proxies/cap")
        #expect(shown.json?["listen"] == .string(listen), "the proxy stays on its address")
        #expect(shown.json?["pcap"] == .string(file))
        #expect(try await serve.call("POST", "/v1/proxies/cap/pcap").status == 409)

        #expect(try await Traffic.roundTrip(port: port, "while-capturing").ending == .eof("while-capturing"))

        let stopped = try await serve.call("DELETE", "/v1/proxies/cap/pcap")
        #expect(stopped.status == 200, "\(stopped)")
        #expect(stopped.json?["capturing"] == .bool(false))
        #expect(stopped.json?["file"] == .string(file))
        #expect((stopped.json?["packets"]?.doubleValue ?? 0) > 0, "\(stopped)")
        #expect(stopped.json?["dropped"] == .integer(0))
        #expect(try await serve.call("GET", "/v1/proxies/cap").json?["pcap"] == .null)
        #expect(try await Traffic.roundTrip(port: port, "after-capture").ending == .eof("after-capture"))
        let again = try await serve.call("DELETE", "/v1/proxies/cap/pcap")
        #expect(again.status == 409)
        #expect(again.json?["error"]?["message"]?.stringValue?.contains("not capturing") == true, "\(again)")

        // The file is closed and complete: the client leg and the upstream leg, each
        // carrying the request one way and the echo the other.
        let streams = try TCPStreamReassembler.streams(fromCaptureAt: file)
        #expect(streams.count == 2, "\(streams)")
        for stream in streams {
            #expect(String(decoding: stream.clientToServer, as: UTF8.self) == "while-capturing")
            #expect(String(decoding: stream.serverToClient, as: UTF8.self) == "while-capturing")
            #expect(stream.sawSYN && stream.clientFIN && stream.serverFIN, "\(stream)")
        }
        #expect(streams.contains { $0.server.port == upstream.port }, "the upstream leg")
        #expect(streams.contains { $0.server.port == port }, "the client leg")
        await serve.stop()
        await upstream.stop()
    }

    /// A UDP proxy captures its datagrams on both legs the same way.
    @Test func aUDPProxysDatagramsAreCapturedOnBothLegs() async throws {
        let echo = try await TestDatagramEcho.start()
        let serve = try await ServeHarness.start()
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"dns","transport":"udp","upstream":"127.0.0.1:\#(echo.port)"}"#)
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
        try await UDPServeTests.expectEcho(port: port, number: 1)
        let started = try await serve.call("POST", "/v1/proxies/dns/pcap")
        #expect(started.status == 201, "\(started)")
        let file = try #require(started.json?["file"]?.stringValue)
        defer { try? FileManager.default.removeItem(atPath: (file as NSString).deletingLastPathComponent) }
        try await UDPServeTests.expectEcho(port: port, number: 2)
        let stopped = try await serve.call("DELETE", "/v1/proxies/dns/pcap")
        #expect(stopped.json?["packets"] == .integer(4), "\(stopped)")
        try await UDPServeTests.expectEcho(port: port, number: 3)

        let (linkType, packets) = try PcapOfflineReader.readAll(path: file)
        #expect(linkType == .raw)
        // IPv4 (20 bytes), then UDP: source port, destination port; the payload at 28.
        let legs = packets.map { packet -> (from: Int, to: Int, number: UInt64) in
            let bytes = packet.data
            let port = { (at: Int) in Int(bytes[at]) << 8 | Int(bytes[at + 1]) }
            return (port(20), port(22), bytes[28..<36].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        }
        #expect(legs.map(\.number) == [2, 2, 2, 2], "only the datagram sent while capturing: \(legs)")
        #expect(legs.filter { $0.to == port }.count == 1, "client to proxy")
        #expect(legs.filter { $0.to == echo.port }.count == 1, "proxy to upstream")
        #expect(legs.filter { $0.from == echo.port }.count == 1, "upstream to proxy")
        #expect(legs.filter { $0.from == port }.count == 1, "proxy to client")
        await serve.stop()
        await echo.stop()
    }

    /// A capture asked of a disabled proxy starts when it is enabled; disabling it again
    /// closes the file, whose status stays readable.
    @Test func aDisabledProxyCapturesFromWhenItIsEnabled() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let made = try await serve.call(
            "POST", "/v1/proxies", body: #"{"name":"later","upstream":"127.0.0.1:\#(upstream.port)","enabled":false}"#
        )
        #expect(made.status == 201, "\(made)")
        let asked = try await serve.call("POST", "/v1/proxies/later/pcap")
        #expect(asked.status == 201, "\(asked)")
        #expect(asked.json?["capturing"] == .bool(true))
        #expect(asked.json?["file"] == .null, "nothing written before it runs")
        let twice = try await serve.call("POST", "/v1/proxies/later/pcap")
        #expect(twice.json?["error"]?["message"]?.stringValue?.contains("once it is enabled") == true, "\(twice)")

        let enabled = try await serve.call("PATCH", "/v1/proxies/later", body: #"{"enabled":true}"#)
        let file = try #require(enabled.json?["pcap"]?.stringValue, "\(enabled)")
        defer { try? FileManager.default.removeItem(atPath: (file as NSString).deletingLastPathComponent) }
        let port = Traffic.port(of: try #require(enabled.json?["listen"]?.stringValue))
        #expect(try await Traffic.roundTrip(port: port, "enabled").ending == .eof("enabled"))
        #expect(try await serve.call("PATCH", "/v1/proxies/later", body: #"{"enabled":false}"#).status == 200)

        let status = try await serve.call("GET", "/v1/proxies/later/pcap")
        #expect(status.json?["capturing"] == .bool(true), "still asked for, for the next start")
        #expect(status.json?["file"] == .string(file))
        #expect((status.json?["packets"]?.doubleValue ?? 0) > 0, "\(status)")
        let streams = try TCPStreamReassembler.streams(fromCaptureAt: file)
        #expect(streams.count == 2, "\(streams)")
        #expect(streams.allSatisfy { String(decoding: $0.clientToServer, as: UTF8.self) == "enabled" })
        await serve.stop()
        await upstream.stop()
    }

    /// With `--pcap DIR` every proxy captures from its start unless created with
    /// `"pcap": false`; a capture that cannot keep up counts its drops on /metrics and
    /// in its status.
    @Test func captureDropsAreCountedOnMetrics() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-pcap-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = try await TestServer.echo()
        var options = ServeOptions(pcapDirectory: directory)
        // One byte of payload may wait for the writer: every packet carrying data is dropped.
        options.pcapBuffer = 1
        let serve = try await ServeHarness.start(options: options)
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"full","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        #expect(made.json?["pcap"] == .string("\(directory)/full.pcap"), "\(made)")
        let plain = try await serve.call("POST", "/v1/proxies", body: #"{"name":"plain","upstream":"127.0.0.1:\#(upstream.port)","pcap":false}"#)
        #expect(plain.json?["pcap"] == .null, "\(plain)")
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
        #expect(try await Traffic.roundTrip(port: port).ending == .eof("ping"))

        // Each leg carries "ping" both ways: at least four packets with data, each dropped.
        let status = try await serve.call("GET", "/v1/proxies/full/pcap")
        let dropped = try #require(status.json?["dropped"]?.doubleValue)
        #expect(dropped >= 4, "\(status)")
        let metrics = try await serve.call("GET", "/metrics").body
        #expect(metrics.contains(#"faultline_capture_dropped_total{proxy="full"} \#(Int(dropped))"#), "\(metrics)")
        #expect(metrics.contains(#"faultline_capture_dropped_total{proxy="plain"} 0"#), "\(metrics)")
        #expect(metrics.contains(#"faultline_log_dropped_total{proxy="full"} 0"#), "\(metrics)")
        await serve.stop()
        await upstream.stop()
    }

    /// Events a proxy's log could not keep up with reach /metrics as they happen.
    @Test func logDropsAreCountedOnMetrics() async throws {
        let stand = StandInProxy()
        let logger = Logger(label: "faultline.serve.test")
        let store = ProxyStore(options: ServeOptions(), logger: logger) { _ in stand }
        let api = ControlAPI(store: store, metrics: ServeMetrics(), token: nil, loader: ProfileLoader(), version: "test", logger: logger)
        let made = await api.respond(to: APIRequest(method: "POST", path: "/v1/proxies", body: Array(#"{"name":"busy","upstream":"127.0.0.1:9"}"#.utf8)))
        #expect(made.status == 201, "\(made.bodyText)")
        stand.drops.withLock { $0 = (events: 7, packets: 3) }
        let first = await api.respond(to: APIRequest(method: "GET", path: "/metrics")).bodyText
        #expect(first.contains(#"faultline_log_dropped_total{proxy="busy"} 7"#), "\(first)")
        #expect(first.contains(#"faultline_capture_dropped_total{proxy="busy"} 3"#), "\(first)")
        stand.drops.withLock { $0 = (events: 12, packets: 3) }
        let second = await api.respond(to: APIRequest(method: "GET", path: "/metrics")).bodyText
        #expect(second.contains(#"faultline_log_dropped_total{proxy="busy"} 12"#), "\(second)")
        await store.shutdown()
    }

    /// A capture started and stopped while a connection is open disturbs nothing: the
    /// same connection carries on throughout, and what it carried while the capture ran
    /// is in the file, on both legs (each flow opening with a handshake at the start),
    /// and nothing from before or after.
    @Test func anOpenConnectionCarriesOnAndIsCapturedFromTheStart() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"live","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
        let client = try await TestClient.connect(port: port)
        let file = try await client.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            func roundTrip(_ text: String) async throws -> String {
                try await outbound.write(ByteBuffer(string: text))
                return String(buffer: try await TestClient.read(atLeast: text.utf8.count, from: &iterator))
            }
            #expect(try await roundTrip("before") == "before")
            let started = try await serve.call("POST", "/v1/proxies/live/pcap")
            #expect(started.status == 201, "\(started)")
            #expect(try await roundTrip("during") == "during")
            let stopped = try await serve.call("DELETE", "/v1/proxies/live/pcap")
            #expect(stopped.status == 200, "\(stopped)")
            #expect(try await roundTrip("after") == "after")
            return try #require(stopped.json?["file"]?.stringValue)
        }
        defer { try? FileManager.default.removeItem(atPath: (file as NSString).deletingLastPathComponent) }
        let streams = try TCPStreamReassembler.streams(fromCaptureAt: file)
        #expect(streams.count == 2, "both legs of the one connection: \(streams)")
        for stream in streams {
            #expect(String(decoding: stream.clientToServer, as: UTF8.self) == "during", "\(stream)")
            #expect(String(decoding: stream.serverToClient, as: UTF8.self) == "during", "\(stream)")
            #expect(stream.sawSYN, "a flow joined mid-connection opens with a handshake: \(stream)")
        }
        #expect(streams.contains { $0.server.port == upstream.port }, "the upstream leg")
        #expect(streams.contains { $0.server.port == port }, "the client leg")
        // One connection throughout: the proxy's log never saw a second one.
        let totals = try await serve.call("GET", "/metrics").body
        #expect(totals.contains(#"faultline_connections_total{proxy="live"} 1"#), "\(totals)")
        await serve.stop()
        await upstream.stop()
    }
}

/// A running proxy that only reports what a test tells it.
private final class StandInProxy: ControlledProxy {
    let drops = Mutex<(events: Int, packets: Int)>((0, 0))
    var address: HostPort { HostPort(host: "127.0.0.1", port: 9) }
    var seed: UInt64 { 1 }
    var open: Int { 0 }
    var tally: EventTally? { nil }
    var droppedEvents: Int { self.drops.withLock { $0.events } }
    var bytesForwarded: (upstream: Int, downstream: Int) { (0, 0) }
    var captureCounts: CaptureCounts? {
        CaptureCounts(file: "/nonexistent/busy.pcap", written: 0, dropped: self.drops.withLock { $0.packets })
    }
    func apply(_ profile: Profile?) async throws -> UInt64 { 2 }
    func startCapture(_ path: String, buffer: Int?, maxFileSize: Int64?) async throws -> CaptureCounts {
        CaptureCounts(file: path, written: 0, dropped: 0)
    }
    func stopCapture() async throws -> CaptureCounts? { nil }
    func stop(grace: Duration) async throws {}
}
