import FaultlineCore
import FaultlineServe
import FaultlineTestSupport
import Foundation
import Testing

/// Toxiproxy's API over real HTTP, against anchors.md §2 (statuses, fields, error bodies).
@Suite(.timeLimit(.minutes(2)))
struct ToxiproxyAPITests {
    @Test func versionIsToxiproxysByteForByte() async throws {
        let serve = try await ServeHarness.start()
        defer { Task { await serve.stop() } }
        let reply = try await serve.call("GET", "/version")
        #expect(reply.status == 200)
        #expect(reply.body == "{\"version\": \"2.12.0\"}\n")
        #expect(reply.headers["content-type"] == "application/json;charset=utf-8")
        #expect(reply.headers["x-toxiproxy-request-id"]?.count == 20)
        await serve.stop()
    }

    @Test func createReadListDelete() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let created = try await serve.call(
            "POST", "/proxies", body: #"{"name":"echo","listen":"localhost:0","upstream":"127.0.0.1:\#(upstream.port)"}"#
        )
        #expect(created.status == 201)
        let listen = try #require(created.json?["listen"]?.stringValue)
        #expect(listen.hasPrefix("127.0.0.1:"))
        #expect(Traffic.port(of: listen) > 0)
        #expect(created.body == #"{"name":"echo","listen":"\#(listen)","upstream":"127.0.0.1:\#(upstream.port)","enabled":true,"toxics":[]}"#)

        let (ending, _) = try await Traffic.roundTrip(port: Traffic.port(of: listen))
        #expect(ending == .eof("ping"))

        let one = try await serve.call("GET", "/proxies/echo")
        #expect(one.status == 200)
        #expect(one.body == created.body)
        let all = try await serve.call("GET", "/proxies")
        #expect(all.status == 200)
        #expect(all.body == #"{"echo":\#(created.body)}"#)

        let deleted = try await serve.call("DELETE", "/proxies/echo")
        #expect(deleted.status == 204)
        #expect(deleted.body.isEmpty)
        let gone = try await serve.call("GET", "/proxies/echo")
        #expect(gone.status == 404)
        #expect(gone.body == "{\"error\":\"proxy not found\",\"status\":404}\n")
        #expect(gone.headers["content-type"] == "text/plain; charset=utf-8")
        #expect(gone.headers["x-content-type-options"] == "nosniff")
        #expect(try await serve.call("GET", "/proxies").body == "{}")
        await serve.stop()
        await upstream.stop()
    }

    /// Every documented error of the compatibility API, in Toxiproxy's words.
    @Test func everyErrorAnswersAsToxiproxyDoes() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let up = "127.0.0.1:\(upstream.port)"
        let made = try await serve.call("POST", "/proxies", body: #"{"name":"p","listen":"127.0.0.1:0","upstream":"\#(up)"}"#)
        #expect(made.status == 201)
        let taken = try #require(made.json?["listen"]?.stringValue)
        #expect(try await serve.call("POST", "/proxies/p/toxics", body: #"{"type":"latency","attributes":{"latency":1}}"#).status == 200)

        typealias Case = (method: String, path: String, body: String?, status: Int, error: String)
        let cases: [Case] = [
            ("POST", "/proxies", "", 400, "bad request body: EOF"),
            ("POST", "/proxies", #"{"name":"x","#, 400, "bad request body:"),
            ("POST", "/proxies", #"{"name":7,"upstream":"\#(up)"}"#, 400, "bad request body:"),
            ("POST", "/proxies", #"{"upstream":"\#(up)"}"#, 400, "missing required field: name"),
            ("POST", "/proxies", #"{"name":"q"}"#, 400, "missing required field: upstream"),
            ("POST", "/proxies", #"{"name":"p","upstream":"\#(up)"}"#, 409, "proxy already exists"),
            ("POST", "/proxies", #"{"name":"busy","listen":"\#(taken)","upstream":"\#(up)"}"#, 500, "listen tcp \(taken): bind: address already in use"),
            ("GET", "/proxies/nope", nil, 404, "proxy not found"),
            ("PATCH", "/proxies/nope", #"{"enabled":false}"#, 404, "proxy not found"),
            ("POST", "/proxies/nope", #"{"enabled":false}"#, 404, "proxy not found"),
            ("POST", "/proxies/p", "[", 400, "bad request body:"),
            ("DELETE", "/proxies/nope", nil, 404, "proxy not found"),
            ("GET", "/proxies/nope/toxics", nil, 404, "proxy not found"),
            ("POST", "/proxies/nope/toxics", #"{"type":"latency"}"#, 404, "proxy not found"),
            ("POST", "/proxies/p/toxics", "{", 400, "bad request body:"),
            ("POST", "/proxies/p/toxics", #"{"type":"latency","attributes":{"latency":1,}}"#, 400, "bad request body: invalid JSON at line 1, column 44: a trailing comma"),
            ("POST", "/proxies/p/toxics", #"{"type":"latency","stream":"sideways"}"#, 400, "stream was invalid, can be either upstream or downstream"),
            ("POST", "/proxies/p/toxics", #"{"type":"teleport"}"#, 400, "invalid toxic type"),
            ("POST", "/proxies/p/toxics", #"{"stream":"upstream"}"#, 400, "invalid toxic type"),
            ("POST", "/proxies/p/toxics", #"{"type":"latency","stream":"Downstream"}"#, 409, "toxic already exists"),
            ("POST", "/proxies/p/toxics", #"{"type":"latency","name":"f","attributes":{"latency":1.5}}"#, 400, "bad request body:"),
            ("POST", "/proxies/p/toxics", #"{"type":"latency","name":"g","toxicity":50}"#, 400, "bad request body: toxic.toxicity: a probability from 0 to 1"),
            ("PATCH", "/proxies/p/toxics/latency_downstream", #"{"toxicity":-0.5}"#, 400, "bad request body: toxic.toxicity: a probability"),
            ("GET", "/proxies/p/toxics/nope", nil, 404, "toxic not found"),
            ("GET", "/proxies/nope/toxics/latency_downstream", nil, 404, "proxy not found"),
            ("PATCH", "/proxies/p/toxics/nope", #"{"toxicity":0.5}"#, 404, "toxic not found"),
            ("POST", "/proxies/p/toxics/latency_downstream", "nope", 400, "bad request body:"),
            ("DELETE", "/proxies/p/toxics/nope", nil, 404, "toxic not found"),
            ("POST", "/populate", #"{"name":"x"}"#, 400, "bad request body:"),
        ]
        for item in cases {
            let reply = try await serve.call(item.method, item.path, body: item.body)
            #expect(reply.status == item.status, "\(item.method) \(item.path) \(item.body ?? ""): \(reply)")
            #expect(reply.json?["status"] == .integer(Int64(item.status)), "\(item.method) \(item.path): \(reply)")
            let message = reply.json?["error"]?.stringValue ?? ""
            #expect(message.hasPrefix(item.error), "\(item.method) \(item.path) \(item.body ?? ""): \(reply)")
            #expect(reply.body.hasSuffix("}\n"))
            #expect(reply.headers["content-type"] == "text/plain; charset=utf-8")
        }
        // Nothing above changed the proxy.
        #expect(try await serve.call("GET", "/proxies").json?.objectMembers?.map(\.0) == ["p"])
        #expect(
            try await serve.call("GET", "/proxies/p/toxics").body
                == #"[{"attributes":{"latency":1,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}]"#
        )

        // Routing: unknown paths, wrong methods, browsers.
        let unknown = try await serve.call("GET", "/nothing/here")
        #expect(unknown.status == 404)
        #expect(unknown.body == "404 page not found\n")
        #expect(try await serve.call("GET", "/proxies/").status == 404)
        let wrong = try await serve.call("PUT", "/proxies")
        #expect(wrong.status == 405)
        #expect(wrong.body.isEmpty)
        #expect(try await serve.call("GET", "/reset").status == 405)
        #expect(try await serve.call("PUT", "/proxies/p/toxics/latency_downstream").status == 405)
        let browser = try await serve.call("GET", "/proxies", headers: ["User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"])
        #expect(browser.status == 403)
        #expect(browser.body == "User agent not allowed\n")
        await serve.stop()
        await upstream.stop()
    }

    /// A latency toxic added, measured on real traffic, updated, and removed.
    @Test func latencyToxicDelaysRepliesUntilRemoved() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let made = try await serve.call("POST", "/proxies", body: #"{"name":"slow","listen":"127.0.0.1:0","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))

        let before = try await Traffic.roundTrip(port: port)
        #expect(before.ending == .eof("ping"))

        let added = try await serve.call(
            "POST", "/proxies/slow/toxics", body: #"{"name":"lag","type":"latency","stream":"downstream","attributes":{"latency":2000,"jitter":0}}"#
        )
        #expect(added.status == 200)
        #expect(added.body == #"{"attributes":{"latency":2000,"jitter":0},"name":"lag","type":"latency","stream":"downstream","toxicity":1}"#)
        let slowed = try await Traffic.roundTrip(port: port)
        #expect(slowed.ending == .eof("ping"))
        #expect(slowed.elapsed >= .seconds(2), "a 2000 ms latency toxic, round trip \(slowed.elapsed)")

        let updated = try await serve.call("POST", "/proxies/slow/toxics/lag", body: #"{"attributes":{"latency":2500}}"#)
        #expect(updated.status == 200)
        #expect(updated.json?["attributes"]?["latency"] == .integer(2500))
        #expect(updated.json?["toxicity"]?.doubleValue == 1)
        let slower = try await Traffic.roundTrip(port: port)
        #expect(slower.elapsed >= .milliseconds(2500), "a 2500 ms latency toxic, round trip \(slower.elapsed)")

        #expect(try await serve.call("DELETE", "/proxies/slow/toxics/lag").status == 204)
        #expect(try await serve.call("GET", "/proxies/slow/toxics").body == "[]")
        // No toxic left: the next round trip adds no delay fault (counted on /metrics,
        // not timed, so a loaded machine cannot fail it by being slow).
        let lagged = try await serve.faultsLine(proxy: "slow", rule: "lag")
        #expect(lagged != nil, "the toxic fired earlier")
        let after = try await Traffic.roundTrip(port: port)
        #expect(after.ending == .eof("ping"))
        #expect(try await serve.faultsLine(proxy: "slow", rule: "lag") == lagged, "no toxic left")
        await serve.stop()
        await upstream.stop()
    }

    /// toxicity 0.5 over 200 connections: about half are toxic, and the same half again
    /// for the same seed and toxic name.
    @Test func toxicityPicksAboutHalfAndTheSameHalfForTheSameSeed() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start(options: ServeOptions(seed: 42))
        func run() async throws -> [Bool] {
            let made = try await serve.call("POST", "/proxies", body: #"{"name":"coin","listen":"127.0.0.1:0","upstream":"127.0.0.1:\#(upstream.port)"}"#)
            #expect(made.status == 201)
            let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
            // limit_data 0 upstream: a toxic connection is closed before the request passes.
            let toxic = try await serve.call(
                "POST", "/proxies/coin/toxics", body: #"{"name":"cut","type":"limit_data","stream":"upstream","toxicity":0.5,"attributes":{"bytes":0}}"#
            )
            #expect(toxic.status == 200)
            #expect(toxic.json?["toxicity"]?.doubleValue == 0.5)
            var cut: [Bool] = []
            for _ in 0..<200 {
                let (ending, _) = try await Traffic.roundTrip(port: port)
                cut.append(ending.received != "ping")
            }
            #expect(try await serve.call("DELETE", "/proxies/coin").status == 204)
            return cut
        }
        let first = try await run()
        let count = first.filter { $0 }.count
        #expect((70...130).contains(count), "toxicity 0.5 cut \(count) of 200")
        let second = try await run()
        #expect(second == first, "the same seed and toxic name must cut the same connections")
        await serve.stop()
        await upstream.stop()
    }

    @Test func populateKeepsCreatesAndReportsAndResetRestores() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let up = "127.0.0.1:\(upstream.port)"
        let empty = try await serve.call("POST", "/populate", body: "[]")
        #expect(empty.status == 201)
        #expect(empty.body == #"{"proxies":null}"#)

        let bad = try await serve.call("POST", "/populate", body: #"[{"name":"a","upstream":"\#(up)"},{"upstream":"\#(up)"}]"#)
        #expect(bad.status == 400)
        #expect(bad.json?["error"] == "missing required field: name at proxy 2")
        #expect(try await serve.call("GET", "/proxies").body == "{}", "a bad entry creates nothing")

        let body = #"[{"name":"a","listen":"127.0.0.1:0","upstream":"\#(up)"},{"name":"b","listen":"127.0.0.1:0","upstream":"\#(up)","enabled":false}]"#
        let populated = try await serve.call("POST", "/populate", body: body)
        #expect(populated.status == 201)
        guard case .array(let proxies)? = populated.json?["proxies"] else {
            Issue.record("no proxies in \(populated)")
            return
        }
        #expect(proxies.map { $0["name"] } == ["a", "b"])
        #expect(proxies.map { $0["enabled"] } == [true, false])
        let listenA = try #require(proxies[0]["listen"]?.stringValue)

        // A proxy populated again with the same listen and upstream keeps its toxics.
        #expect(try await serve.call("POST", "/proxies/a/toxics", body: #"{"type":"latency","attributes":{"latency":5}}"#).status == 200)
        let again = try await serve.call("POST", "/populate", body: #"[{"name":"a","listen":"\#(listenA)","upstream":"\#(up)"}]"#)
        #expect(again.status == 201)
        #expect(again.json?["proxies"]?.text.contains("latency_downstream") == true)

        // Populate stops at the first failure and returns what was done.
        let clash = try await serve.call(
            "POST", "/populate", body: #"[{"name":"c","listen":"127.0.0.1:0","upstream":"\#(up)"},{"name":"d","listen":"\#(listenA)","upstream":"\#(up)"}]"#
        )
        #expect(clash.status == 500)
        #expect(clash.json?["error"]?.stringValue?.contains("address already in use") == true)
        #expect(clash.json?["proxies"]?.text.contains(#""name":"c""#) == true)
        #expect(try await serve.call("GET", "/proxies/d").status == 404)

        // Reset: every proxy enabled, every toxic gone.
        let reset = try await serve.call("POST", "/reset")
        #expect(reset.status == 204)
        let a = try await serve.call("GET", "/proxies/a")
        #expect(a.json?["toxics"] == .array([]))
        let b = try await serve.call("GET", "/proxies/b")
        #expect(b.json?["enabled"] == true)
        let portB = Traffic.port(of: try #require(b.json?["listen"]?.stringValue))
        #expect(try await Traffic.roundTrip(port: portB).ending == .eof("ping"))
        await serve.stop()
        await upstream.stop()
    }

    /// enabled:false closes the listener ("down"); enabled:true listens again, on the
    /// same port.
    @Test func disablingRefusesConnectionsAndEnablingComesBackOnTheSamePort() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let made = try await serve.call("POST", "/proxies", body: #"{"name":"flip","listen":"127.0.0.1:0","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        let listen = try #require(made.json?["listen"]?.stringValue)
        let port = Traffic.port(of: listen)
        let down = try await serve.call("POST", "/proxies/flip", body: #"{"enabled":false}"#)
        #expect(down.status == 200)
        #expect(down.json?["enabled"] == false)
        #expect(down.json?["listen"] == .string(listen))
        // Nothing listens: the connection is refused (SocketClient reports it as a reset).
        #expect(try await Traffic.roundTrip(port: port).ending == .reset(""))
        let up = try await serve.call("PATCH", "/proxies/flip", body: #"{"enabled":true}"#)
        #expect(up.status == 200)
        #expect(up.json?["listen"] == .string(listen))
        #expect(try await Traffic.roundTrip(port: port).ending == .eof("ping"))
        await serve.stop()
        await upstream.stop()
    }
}

extension ToxiproxyAPITests {
    /// `slow_close` and a `slicer` with a `size_variation` are carried out in full: they
    /// become `slow_close` and `slice` rules with every attribute applied, and no answer
    /// carries a `Warning` any more.
    @Test func slowCloseAndAVariedSlicerBecomeWholeRulesWithoutAWarning() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let made = try await serve.call("POST", "/proxies", body: #"{"name":"w","listen":"127.0.0.1:0","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        #expect(made.status == 201)
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))

        let slowClose = try await serve.call("POST", "/proxies/w/toxics", body: #"{"type":"slow_close","attributes":{"delay":1500}}"#)
        #expect(slowClose.status == 200, "\(slowClose)")
        #expect(slowClose.headers["warning"] == nil, "\(slowClose.headers)")
        let closeRule = try await serve.call("GET", "/v1/proxies/w/rules/slow_close_downstream")
        #expect(closeRule.status == 200, "\(closeRule)")
        #expect(closeRule.json?["kind"] == "slow_close")
        #expect(closeRule.json?["direction"] == "downstream")
        #expect(closeRule.json?["params"]?["delay"] == "1.5s")
        #expect(closeRule.json?["source"] == "toxic")
        // The echo's reply comes whole; its end of stream comes 1.5 s late.
        let held = try await Traffic.roundTrip(port: port)
        #expect(held.ending == .eof("ping"))
        #expect(held.elapsed >= .milliseconds(1500), "a 1500 ms slow_close, round trip \(held.elapsed)")

        let varied = try await serve.call(
            "POST", "/v1/proxies/w/toxics", body: #"{"name":"pieces","type":"slicer","attributes":{"average_size":8,"size_variation":4,"delay":10}}"#
        )
        #expect(varied.status == 200, "\(varied)")
        #expect(varied.headers["warning"] == nil, "\(varied.headers)")
        #expect(varied.json?["attributes"]?["size_variation"] == .integer(4))
        let sliceRule = try await serve.call("GET", "/v1/proxies/w/rules/pieces")
        #expect(sliceRule.json?["kind"] == "slice")
        #expect(sliceRule.json?["params"]?["size"] == "8")
        #expect(sliceRule.json?["params"]?["size_variation"] == "4")
        #expect(sliceRule.json?["params"]?["gap"] == "10us", "\(sliceRule)")

        // Updating the variation changes the rule; still no warning.
        let even = try await serve.call("POST", "/proxies/w/toxics/pieces", body: #"{"attributes":{"size_variation":0}}"#)
        #expect(even.status == 200, "\(even)")
        #expect(even.headers["warning"] == nil, "\(even.headers)")
        #expect(try await serve.call("GET", "/v1/proxies/w/rules/pieces").json?["params"]?["size_variation"] == nil)
        await serve.stop()
        await upstream.stop()
    }
}
