import FaultlineCore
import FaultlineHost
import FaultlineServe
import FaultlineTestSupport
import Foundation
import NIOCore
import Synchronization
import Testing

/// Changes to a proxy's address, upstream or state that cannot be made leave it as it
/// was: still listening where it listened, serving, and reported so.
@Suite(.timeLimit(.minutes(2)))
struct ProxyChangeTests {
    /// A new listen address that another process holds is refused (409), and the proxy
    /// stays on its old address: an open connection carries on, new ones are served,
    /// and the API reports the old address, enabled, the same plan.
    @Test func aListenAddressInUseLeavesTheProxyServingWhereItWas() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-move-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = try await TestServer.echo()
        let taken = try await TestServer.echo()
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: directory))
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"raw1","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        #expect(made.status == 201, "\(made)")
        let listen = try #require(made.json?["listen"]?.stringValue)
        let port = Traffic.port(of: listen)

        let open = try await TestClient.connect(port: port)
        try await open.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            try await outbound.write(ByteBuffer(string: "one"))
            #expect(String(buffer: try await TestClient.read(atLeast: 3, from: &iterator)) == "one")

            let refused = try await serve.call("PATCH", "/v1/proxies/raw1", body: #"{"listen":"127.0.0.1:\#(taken.port)"}"#)
            #expect(refused.status == 409, "\(refused)")
            #expect(refused.json?["error"]?["message"]?.stringValue?.contains("address already in use") == true, "\(refused)")

            let shown = try await serve.call("GET", "/v1/proxies/raw1")
            #expect(shown.json?["listen"] == .string(listen), "\(shown)")
            #expect(shown.json?["enabled"] == true, "\(shown)")
            #expect(shown.json?["plan_version"] == made.json?["plan_version"], "\(shown)")
            #expect(shown.json?["log"] == .string("\(directory)/raw1.jsonl"), "\(shown)")
            #expect(shown.json?["open"] == 1, "\(shown)")

            // The connection opened before the refused change carries on.
            try await outbound.write(ByteBuffer(string: "two"))
            #expect(String(buffer: try await TestClient.read(atLeast: 3, from: &iterator)) == "two")
        }
        #expect(try await Traffic.roundTrip(port: port).ending == .eof("ping"))
        let events = try await serve.call("GET", "/v1/proxies/raw1/events?limit=1000").body
        #expect(!events.contains(#""type":"proxy_stop""#), "\(events)")

        // A free port (0: any) is taken: the proxy moves there and leaves the old one.
        let moved = try await serve.call("PATCH", "/v1/proxies/raw1", body: #"{"listen":"127.0.0.1:0"}"#)
        #expect(moved.status == 200, "\(moved)")
        let newPort = Traffic.port(of: try #require(moved.json?["listen"]?.stringValue))
        #expect(newPort != port && newPort != 0, "\(moved)")
        #expect(moved.json?["log"] == .string("\(directory)/raw1.2.jsonl"), "\(moved)")
        #expect(try await Traffic.roundTrip(port: newPort).ending == .eof("ping"))
        #expect(try await Traffic.roundTrip(port: port).ending == .reset(""))
        await serve.stop()
        await taken.stop()
        await upstream.stop()
    }

    /// The same through Toxiproxy's route: a 500 as Toxiproxy answers, the proxy still
    /// where it was, and `/reset` afterwards succeeds.
    @Test func toxiproxysUpdateToAnAddressInUseChangesNothingAndResetStillWorks() async throws {
        let upstream = try await TestServer.echo()
        let taken = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let made = try await serve.call("POST", "/proxies", body: #"{"name":"b","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        let listen = try #require(made.json?["listen"]?.stringValue)
        let port = Traffic.port(of: listen)
        #expect(try await serve.call("POST", "/proxies/b/toxics", body: #"{"type":"latency","attributes":{"latency":1}}"#).status == 200)

        let refused = try await serve.call("POST", "/proxies/b", body: #"{"listen":"127.0.0.1:\#(taken.port)"}"#)
        #expect(refused.status == 500, "\(refused)")
        #expect(refused.json?["error"] == .string("listen tcp 127.0.0.1:\(taken.port): bind: address already in use"), "\(refused)")
        let shown = try await serve.call("GET", "/proxies/b")
        #expect(shown.json?["listen"] == .string(listen), "\(shown)")
        #expect(shown.json?["enabled"] == true, "\(shown)")
        #expect(try await Traffic.roundTrip(port: port).ending == .eof("ping"))

        let reset = try await serve.call("POST", "/reset")
        #expect(reset.status == 204, "\(reset)")
        let after = try await serve.call("GET", "/proxies/b")
        #expect(after.json?["listen"] == .string(listen), "\(after)")
        #expect(after.json?["toxics"] == .array([]), "\(after)")
        #expect(try await Traffic.roundTrip(port: port).ending == .eof("ping"))
        await serve.stop()
        await taken.stop()
        await upstream.stop()
    }

    /// A change that must give up the proxy's own port first (a new upstream) and then
    /// cannot listen comes back on the old address; when even that fails, the proxy is
    /// reported disabled, never enabled where it does not listen, and `/reset` brings
    /// it back once it can listen.
    @Test func aProxyThatCannotComeBackIsReportedDisabled() async throws {
        let upstream = try await TestServer.echo()
        let other = try await TestServer.echo()
        // Starts after the first fail while `refusing` says so.
        let refusing = Mutex<Int>(0)
        let serve = try await ServeHarness.start { spec, launch in
            let refuse = refusing.withLock { count -> Bool in
                guard count > 0 else { return false }
                count -= 1
                return true
            }
            if refuse { throw RuntimeFailure("listen \(spec.listen): address already in use") }
            return try await launch(spec)
        }
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"c","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        let listen = try #require(made.json?["listen"]?.stringValue)
        let port = Traffic.port(of: listen)

        // The new upstream fails once: the proxy is back on its address with its old upstream.
        refusing.withLock { $0 = 1 }
        let once = try await serve.call("PATCH", "/v1/proxies/c", body: #"{"upstream":"127.0.0.1:\#(other.port)"}"#)
        #expect(once.status == 409, "\(once)")
        let back = try await serve.call("GET", "/v1/proxies/c")
        #expect(back.json?["listen"] == .string(listen), "\(back)")
        #expect(back.json?["upstream"] == .string("127.0.0.1:\(upstream.port)"), "\(back)")
        #expect(back.json?["enabled"] == true, "\(back)")
        #expect(try await Traffic.roundTrip(port: port).ending == .eof("ping"))

        // Both fail: reported disabled, on its old address.
        refusing.withLock { $0 = 2 }
        let twice = try await serve.call("PATCH", "/v1/proxies/c", body: #"{"upstream":"127.0.0.1:\#(other.port)"}"#)
        #expect(twice.status == 409, "\(twice)")
        let down = try await serve.call("GET", "/v1/proxies/c")
        #expect(down.json?["listen"] == .string(listen), "\(down)")
        #expect(down.json?["enabled"] == false, "\(down)")
        #expect(try await Traffic.roundTrip(port: port).ending == .reset(""))

        let reset = try await serve.call("POST", "/reset")
        #expect(reset.status == 204, "\(reset)")
        let up = try await serve.call("GET", "/v1/proxies/c")
        #expect(up.json?["enabled"] == true, "\(up)")
        #expect(try await Traffic.roundTrip(port: port).ending == .eof("ping"))
        await serve.stop()
        await other.stop()
        await upstream.stop()
    }
}
