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
