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
