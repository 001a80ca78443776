import FaultlineCore
import FaultlineServe
import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

/// UDP proxies through /v1: created, carrying datagrams, given a UDP profile; toxics
/// refused.
@Suite(.timeLimit(.minutes(1)))
struct UDPServeTests {
    @Test func udpProxyCarriesDatagramsAndTakesUDPProfiles() async throws {
        let echo = try await TestDatagramEcho.start()
        let serve = try await ServeHarness.start()
        let made = try await serve.call(
            "POST", "/v1/proxies", body: #"{"name":"dns","transport":"udp","listen":"127.0.0.1:0","upstream":"127.0.0.1:\#(echo.port)"}"#
        )
        #expect(made.status == 201, "\(made)")
        #expect(made.json?["transport"] == "udp")
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
        try await Self.expectEcho(port: port, number: 1)

        let tcpProfile = try await serve.call("PUT", "/v1/proxies/dns/profile", body: #"{"name":"slow-reply"}"#)
        #expect(tcpProfile.status == 400, "\(tcpProfile)")
        let toxic = try await serve.call("POST", "/proxies/dns/toxics", body: #"{"type":"latency"}"#)
        #expect(toxic.status == 400)
        #expect(toxic.json?["error"]?.stringValue?.contains("TCP proxies only") == true)

        let profile = """
            faultline: 1
            name: late
            description: every datagram 1 ms late
            transport: udp
            rules:
              - name: late
                fault: {kind: delay, latency: 1ms}
            """
        let put = try await serve.call("PUT", "/v1/proxies/dns/profile", body: profile, headers: ["Content-Type": "application/yaml"])
        #expect(put.status == 200, "\(put)")
        #expect(put.json?["plan_version"] == .integer(2))
        #expect(put.json?["listen"] == made.json?["listen"], "the same proxy, on the same address")
        try await Self.expectEcho(port: port, number: 2)
        await serve.stop()
        await echo.stop()
    }

    /// A session open across plan changes keeps its upstream socket: the upstream sees
    /// every datagram, before, during and after a rule, from the same address, and the
    /// rule acts on the open session at once (each datagram arrives twice while it is on).
    @Test func anOpenSessionKeepsItsUpstreamSocketAcrossPlanChanges() async throws {
        let upstream = try await TestDatagram.bind()
        let serve = try await ServeHarness.start()
        let upstreamPort = try #require(upstream.channel.localAddress?.port)
        let made = try await serve.call(
            "POST", "/v1/proxies", body: #"{"name":"dgram","transport":"udp","upstream":"127.0.0.1:\#(upstreamPort)"}"#
        )
        #expect(made.status == 201, "\(made)")
        let proxy = try TestDatagram.loopback(Traffic.port(of: try #require(made.json?["listen"]?.stringValue)))
        let client = try await TestDatagram.bind()
        try await withTimeout(.seconds(30)) {
            try await upstream.executeThenClose { upstreamIn, upstreamOut in
                try await client.executeThenClose { clientIn, clientOut in
                    var atUpstream = upstreamIn.makeAsyncIterator()
                    var atClient = clientIn.makeAsyncIterator()
                    var sources: [SocketAddress] = []
                    /// Sends datagram `number`, takes the `copies` the upstream gets,
                    /// answers each, and expects every answer back at the client.
                    func exchange(_ number: UInt64, copies: Int) async throws {
                        try await clientOut.write(AddressedEnvelope(remoteAddress: proxy, data: TestDatagram.numbered(number)))
                        for _ in 0..<copies {
                            let arrived = try #require(try await atUpstream.next())
                            #expect(TestDatagram.number(of: arrived.data) == number)
                            sources.append(arrived.remoteAddress)
                            try await upstreamOut.write(AddressedEnvelope(remoteAddress: arrived.remoteAddress, data: arrived.data))
                        }
                        for _ in 0..<copies {
                            let reply = try #require(try await atClient.next())
                            #expect(TestDatagram.number(of: reply.data) == number)
                        }
                    }
                    try await exchange(1, copies: 1)
                    let added = try await serve.call(
                        "POST", "/v1/proxies/dgram/rules",
                        body: #"{"name":"twice","match":{"direction":"upstream"},"fault":{"kind":"duplicate"}}"#
                    )
                    #expect(added.status == 201, "\(added)")
                    try await exchange(2, copies: 2)
                    #expect(try await serve.call("GET", "/v1/proxies/dgram").json?["open"] == .integer(1), "one session throughout")
                    #expect(try await serve.call("DELETE", "/v1/proxies/dgram/rules/twice").status == 204)
                    try await exchange(3, copies: 1)
                    // A fourth datagram goes once too: nothing of the rule is left.
                    try await exchange(4, copies: 1)
                    #expect(sources.count == 5)
                    #expect(Set(sources.map(\.port)).count == 1, "one upstream socket for the session: \(sources)")
                    let shown = try await serve.call("GET", "/v1/proxies/dgram")
                    #expect(shown.json?["open"] == .integer(1))
                    #expect(shown.json?["plan_version"] == .integer(3))
                }
            }
        }
        await serve.stop()
    }

    /// A delay rule taken off a UDP proxy through /v1 lets go of the datagram it holds
    /// at once, as on TCP, and the log says so: a `released` event, reason
    /// `plan_change`.
    @Test func removingADelayRuleReleasesAHeldDatagramAtOnce() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-udp-release-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (serve, upstream, proxy) = try await Self.delayedUDPProxy("dgram", logDirectory: directory)
        let client = try await TestDatagram.bind()
        let clock = ContinuousClock()
        let (number, waited) = try await withTimeout(.seconds(50)) {
            try await upstream.executeThenClose { upstreamIn, _ in
                try await client.executeThenClose { _, clientOut in
                    var atUpstream = upstreamIn.makeAsyncIterator()
                    try await clientOut.write(AddressedEnvelope(remoteAddress: proxy, data: TestDatagram.numbered(7)))
                    // The rule holds it.
                    _ = try await serve.follow("/v1/proxies/dgram/events?follow=true") { lines in
                        lines.contains { $0.contains(#""type":"fault""#) && $0.contains(#""action":"delay""#) }
                    }
                    let removed = clock.now
                    #expect(try await serve.call("DELETE", "/v1/proxies/dgram/rules/late").status == 204)
                    let arrived = try #require(try await atUpstream.next())
                    return (TestDatagram.number(of: arrived.data), clock.now - removed)
                }
            }
        }
        #expect(number == 7)
        #expect(waited < .seconds(15), "the datagram waited \(waited) for a delay no longer in the plan")
        let lines = try await serve.follow("/v1/proxies/dgram/events?follow=true") { lines in
            lines.contains { $0.contains(#""action":"released""#) }
        }
        let released = try lines.map { try JSONValue.parse(Data($0.utf8)) }.filter { $0["action"]?.stringValue == "released" }
        #expect(released.count == 1, "\(lines)")
        #expect(released.first?["rule"]?.stringValue == "late" && released.first?["params"]?["reason"]?.stringValue == "plan_change", "\(lines)")
        #expect(released.first?["params"]?["held_for"]?.stringValue != nil, "\(lines)")
        await serve.stop()
    }

    /// Deleting or disabling a UDP proxy closes its sessions at once, as a TCP proxy's
    /// connections, even while a delay rule holds a datagram: it is discarded, and the
    /// log counts it as dropped.
    @Test(arguments: ["DELETE", "disable"])
    func stoppingAProxyDiscardsHeldDatagramsAtOnce(stop: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-udp-held-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (serve, upstream, proxy) = try await Self.delayedUDPProxy("held", logDirectory: directory)
        let client = try await TestDatagram.bind()
        try await client.executeThenClose { _, clientOut in
            try await clientOut.write(AddressedEnvelope(remoteAddress: proxy, data: TestDatagram.numbered(3)))
        }
        _ = try await serve.follow("/v1/proxies/held/events?follow=true") { lines in
            lines.contains { $0.contains(#""type":"fault""#) && $0.contains(#""action":"delay""#) }
        }
        let clock = ContinuousClock()
        let started = clock.now
        let stopped =
            stop == "DELETE"
            ? try await serve.call("DELETE", "/v1/proxies/held")
            : try await serve.call("PATCH", "/v1/proxies/held", body: #"{"enabled":false}"#)
        let took = clock.now - started
        #expect(stopped.status == (stop == "DELETE" ? 204 : 200), "\(stopped)")
        #expect(took < .seconds(15), "\(stop) waited \(took) for a datagram a rule held")

        let (close, number) = try onlyConnectionClose(inLog: "\(directory)/held.jsonl")
        #expect(close["reason"]?.stringValue == "shutdown", "\(close.text)")
        #expect(number("datagrams_from_client") == 1 && number("datagrams_to_upstream") == 0, "\(close.text)")
        #expect(number("datagrams_dropped_upstream") == 1 && number("dropped_upstream") == 32, "\(close.text)")
        await serve.stop()
        try await upstream.channel.close()
    }

    /// A UDP proxy `name` made through /v1 (its log in `logDirectory`), whose datagrams
    /// to the upstream a 60 s delay rule, `late`, holds: long enough that a datagram
    /// arriving soon was let go, not delivered on time.
    static func delayedUDPProxy(
        _ name: String, logDirectory: String
    ) async throws -> (serve: ServeHarness, upstream: TestDatagram.Socket, proxy: SocketAddress) {
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let upstream = try await TestDatagram.bind()
        let upstreamPort = try #require(upstream.channel.localAddress?.port)
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: logDirectory))
        let made = try await serve.create(#"{"name":"\#(name)","transport":"udp","upstream":"127.0.0.1:\#(upstreamPort)"}"#)
        let proxy = try TestDatagram.loopback(Traffic.port(of: try #require(made["listen"]?.stringValue)))
        let added = try await serve.call(
            "POST", "/v1/proxies/\(name)/rules",
            body: #"{"name":"late","match":{"direction":"upstream"},"fault":{"kind":"delay","latency":"60s"}}"#
        )
        #expect(added.status == 201, "\(added)")
        return (serve, upstream, proxy)
    }

    static func expectEcho(port: Int, number: UInt64) async throws {
        let client = try await TestDatagram.bind()
        let proxy = try TestDatagram.loopback(port)
        try await withTimeout(.seconds(20)) {
            try await client.executeThenClose { inbound, outbound in
                var replies = inbound.makeAsyncIterator()
                let payload = TestDatagram.numbered(number)
                try await outbound.write(AddressedEnvelope(remoteAddress: proxy, data: payload))
                let reply = try #require(try await replies.next())
                #expect(reply.data == payload)
            }
        }
    }
}
