import FaultlineCore
import FaultlineServe
import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

/// The native /v1 API over real HTTP: profiles, single rules, seeds, events, errors.
@Suite(.timeLimit(.minutes(2)))
struct NativeAPITests {
    @Test func profileAndRulesChangeTheRunningPlan() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let made = try await serve.call(
            "POST", "/v1/proxies", body: #"{"name":"svc","listen":"127.0.0.1:0","upstream":"127.0.0.1:\#(upstream.port)","seed":"7"}"#
        )
        #expect(made.status == 201, "\(made)")
        #expect(made.json?["seed"] == "7")
        #expect(made.json?["transport"] == "tcp")
        #expect(made.json?["profile"] == .null)
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))

        // A whole profile, as YAML text.
        let profile = """
            faultline: 1
            name: slow-everything
            description: every reply held a second
            rules:
              - name: slow
                match: {direction: downstream}
                fault: {kind: delay, latency: 2s}
            """
        let put = try await serve.call("PUT", "/v1/proxies/svc/profile", body: profile, headers: ["Content-Type": "application/yaml"])
        #expect(put.status == 200, "\(put)")
        #expect(put.json?["profile"]?["name"] == "slow-everything")
        #expect((put.json?["plan_version"]?.doubleValue ?? 0) >= 1)
        let slowed = try await Traffic.roundTrip(port: port)
        #expect(slowed.ending == .eof("ping"))
        #expect(slowed.elapsed >= .seconds(2))

        // One more rule, as JSON; then it goes again.
        let rule = try await serve.call(
            "POST", "/v1/proxies/svc/rules", body: #"{"name":"cut","match":{"direction":"upstream"},"fault":{"kind":"sever","mode":"fin"}}"#
        )
        #expect(rule.status == 201, "\(rule)")
        #expect(rule.json?["kind"] == "sever")
        #expect(rule.json?["source"] == "rule")
        let listed = try await serve.call("GET", "/v1/proxies/svc/rules")
        guard case .array(let rules)? = listed.json?["rules"] else {
            Issue.record("no rules: \(listed)")
            return
        }
        #expect(rules.map { $0["name"] } == ["slow", "cut"])
        #expect(try await Traffic.roundTrip(port: port).ending == .eof(""))
        #expect(try await serve.call("GET", "/v1/proxies/svc/rules/cut").json?["name"] == "cut")

        #expect(try await serve.call("DELETE", "/v1/proxies/svc/rules/cut").status == 204)
        #expect(try await serve.call("DELETE", "/v1/proxies/svc/profile").status == 200)
        // No delay is left: the clean round trip adds no fault (counted, not timed, so a
        // loaded machine cannot pass or fail it by its speed).
        let before = try await serve.faultsLine(proxy: "svc", rule: "slow")
        #expect(before != nil, "the slow rule fired earlier")
        let clean = try await Traffic.roundTrip(port: port)
        #expect(clean.ending == .eof("ping"))
        #expect(try await serve.faultsLine(proxy: "svc", rule: "slow") == before, "no delay left")

        // A shipped profile by name.
        let shipped = try await serve.call("PUT", "/v1/proxies/svc/profile", body: #"{"name":"slow-reply"}"#)
        #expect(shipped.status == 200, "\(shipped)")
        #expect(shipped.json?["profile"]?["name"] == "slow-reply")
        // The same reference as `curl -d` sends it, form-encoded: not read as a profile's
        // own text (which would lack `faultline`).
        let form = try await serve.call(
            "PUT", "/v1/proxies/svc/profile", body: #"{"name":"flaky-network"}"#,
            headers: ["Content-Type": "application/x-www-form-urlencoded"]
        )
        #expect(form.status == 200, "\(form)")
        #expect(form.json?["profile"]?["name"] == "flaky-network")
        await serve.stop()
        await upstream.stop()
    }

    @Test func nativeErrorsSayWhatIsWrong() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"svc","listen":"127.0.0.1:0","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        let listen = try #require(made.json?["listen"]?.stringValue)
        typealias Case = (method: String, path: String, body: String?, status: Int, message: String)
        let cases: [Case] = [
            ("POST", "/v1/proxies", "{", 400, "bad request body:"),
            // Not JSON, though Foundation's parser takes it.
            ("POST", "/v1/proxies", #"{"name":"x","upstream":"127.0.0.1:1",}"#, 400, "bad request body: invalid JSON at line 1, column 37: a trailing comma"),
            ("POST", "/v1/proxies", #"{"name":"x","upstream":"nowhere"}"#, 400, "upstream takes HOST:PORT"),
            ("POST", "/v1/proxies", #"{"name":"..","upstream":"127.0.0.1:1"}"#, 400, "a proxy cannot be named '..': no URL path reaches it"),
            ("POST", "/v1/proxies", #"{"name":"x","upstream":"127.0.0.1:1","transport":"sctp"}"#, 400, "bad request body: proxy.transport"),
            ("POST", "/v1/proxies", #"{"name":"x","upstream":"127.0.0.1:1","framing":"xml"}"#, 400, "proxy.framing"),
            ("POST", "/v1/proxies", #"{"name":"x","upstream":"127.0.0.1:1","profile":"no-such-profile"}"#, 404, "profile not found"),
            ("POST", "/v1/proxies", #"{"name":"x","upstream":"127.0.0.1:1","profile":"/etc/passwd"}"#, 404, "profile not found"),
            ("POST", "/v1/proxies", #"{"name":"svc","upstream":"127.0.0.1:1"}"#, 409, "proxy already exists"),
            ("POST", "/v1/proxies", #"{"name":"x","listen":"\#(listen)","upstream":"127.0.0.1:1"}"#, 409, "listen \(listen): address already in use"),
            ("GET", "/v1/proxies/nope", nil, 404, "proxy 'nope' not found"),
            ("PUT", "/v1/proxies/svc/profile", "faultline: 1\nname: x\n", 400, "profile:"),
            ("PUT", "/v1/proxies/svc/profile", #"{"nothing":1}"#, 400, "bad request body: send"),
            // Positions are the body's own, not those of the profile it is loaded in.
            ("POST", "/v1/proxies/svc/rules", #"{"name":"r","fault":{"kind":"teleport"}}"#, 400, "rule:1:29: unknown fault kind"),
            ("POST", "/v1/proxies/svc/rules", "name: r\nfault: {kind: teleport}\n", 400, "rule:2:15: unknown fault kind"),
            ("POST", "/v1/proxies/svc/rules", #"{"name":"d","fault":{"kind":"drop"}}"#, 400, "framing"),
            // Said in the API's terms, not the command line's.
            ("PUT", "/v1/proxies/svc/profile", #"{"name":"reply-lost"}"#, 400, "create the proxy with \"framing\" http"),
            ("DELETE", "/v1/proxies/svc/rules/nope", nil, 404, "rule not found"),
            ("GET", "/v1/proxies/svc/events", nil, 409, "keeps no event log"),
            ("GET", "/v1/nothing", nil, 404, "no route GET /v1/nothing"),
            // A path that cannot be decoded says so in /v1's JSON (it was Toxiproxy's plain 404).
            ("GET", "/v1/proxies/%zz", nil, 400, "the path /v1/proxies/%zz is not valid percent-encoding"),
            ("PUT", "/v1/proxies", nil, 405, "PUT is not allowed"),
            ("DELETE", "/v1/proxies/svc/toxics", nil, 405, "DELETE is not allowed"),
        ]
        for item in cases {
            let reply = try await serve.call(item.method, item.path, body: item.body, headers: item.body?.hasPrefix("{") == false ? ["Content-Type": "application/yaml"] : [:])
            #expect(reply.status == item.status, "\(item.method) \(item.path) \(item.body ?? ""): \(reply)")
            let message = reply.json?["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains(item.message), "\(item.method) \(item.path): \(reply)")
            #expect(reply.headers["content-type"] == "application/json")
        }
        await serve.stop()
        await upstream.stop()
    }

    @Test func eventsAreReadFromTheProxysLog() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-events-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: directory))
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"logged","listen":"127.0.0.1:0","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        #expect(made.json?["log"] == .string("\(directory)/logged.jsonl"))
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
        #expect(try await Traffic.roundTrip(port: port).ending == .eof("ping"))
        // The log is written off the event loops: follow it until the close is there.
        let closes = try await serve.follow("/v1/proxies/logged/events?type=conn_close&limit=10&follow=true") { !$0.isEmpty }
        #expect(closes.count == 1)
        #expect(closes[0].contains(#""type":"conn_close""#))
        let all = try await serve.call("GET", "/v1/proxies/logged/events")
        #expect(all.headers["content-type"] == "application/x-ndjson")
        #expect(all.body.contains(#""type":"proxy_start""#))
        #expect(try await serve.call("GET", "/v1/proxies/logged/events?limit=x").status == 400)
        // A follow that is neither true nor false is refused, not taken as false.
        let maybe = try await serve.call("GET", "/v1/proxies/logged/events?follow=maybe")
        #expect(maybe.status == 400 && maybe.body.contains("follow: true or false, got 'maybe'"), "\(maybe.body)")
        await serve.stop()
        await upstream.stop()
    }

    @Test func metricsCountConnectionsAndFaultsByRule() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-metrics-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: directory))
        let made = try await serve.call("POST", "/proxies", body: #"{"name":"m","listen":"127.0.0.1:0","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
        #expect(try await serve.call("POST", "/proxies/m/toxics", body: #"{"name":"cut","type":"limit_data","stream":"upstream","attributes":{"bytes":0}}"#).status == 200)
        for _ in 0..<3 { _ = try await Traffic.roundTrip(port: port) }
        // Counted as the proxy records each close, before the log has it: follow the log.
        _ = try await serve.follow("/v1/proxies/m/events?type=conn_close&limit=10&follow=true") { $0.count >= 3 }
        let metrics = try await serve.call("GET", "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        #expect(metrics.body.contains(#"faultline_connections_total{proxy="m"} 3"#), "\(metrics.body)")
        #expect(metrics.body.contains(#"faultline_faults_injected_total{proxy="m",rule="cut",kind="sever"} 3"#), "\(metrics.body)")
        #expect(metrics.body.contains("faultline_connections_open"))
        #expect(metrics.body.contains(#"faultline_plan_version{proxy="m"} 2.0"#), "\(metrics.body)")
        #expect(metrics.body.contains(#"faultline_bytes_forwarded_total{proxy="m",direction="upstream"} 0"#), "\(metrics.body)")
        #expect(metrics.body.contains(#"faultline_upstream_errors_total{proxy="m"} 0"#), "\(metrics.body)")
        #expect(metrics.body.contains("faultline_api_requests_total"))

        // One clean exchange adds its 4 bytes each way.
        #expect(try await serve.call("DELETE", "/proxies/m/toxics/cut").status == 204)
        #expect(try await Traffic.roundTrip(port: port).ending == .eof("ping"))
        _ = try await serve.follow("/v1/proxies/m/events?type=conn_close&limit=10&follow=true") { $0.count >= 4 }
        let after = try await serve.call("GET", "/metrics").body
        #expect(after.contains(#"faultline_bytes_forwarded_total{proxy="m",direction="upstream"} 4"#), "\(after)")
        #expect(after.contains(#"faultline_bytes_forwarded_total{proxy="m",direction="downstream"} 4"#), "\(after)")

        // Bytes move while a connection stays open: its echo is counted before it closes.
        let open = try await TestClient.connect(port: port)
        try await open.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            try await outbound.write(ByteBuffer(string: "hello"))
            #expect(String(buffer: try await TestClient.read(atLeast: 5, from: &iterator)) == "hello")
            let during = try await serve.call("GET", "/metrics").body
            #expect(during.contains(#"faultline_bytes_forwarded_total{proxy="m",direction="upstream"} 9"#), "\(during)")
            #expect(during.contains(#"faultline_bytes_forwarded_total{proxy="m",direction="downstream"} 9"#), "\(during)")
            #expect(during.contains(#"faultline_connections_open{proxy="m"} 1"#), "\(during)")
        }
        await serve.stop()
        await upstream.stop()
    }

    /// Nothing a request sends stops the server: deep nesting, random bytes, bad
    /// escapes each get an answer, and the next request is served.
    @Test func garbageGetsAnswersNotCrashes() async throws {
        let serve = try await ServeHarness.start()
        var random = SystemRandomNumberGenerator()
        let noise = String(decoding: (0..<50_000).map { _ in UInt8.random(in: 0...255, using: &random) }, as: UTF8.self)
        let cases: [(String, String, String?, Int)] = [
            ("POST", "/populate", String(repeating: "[", count: 200_000), 400),
            ("POST", "/proxies", String(repeating: #"{"a":"#, count: 100_000), 400),
            ("POST", "/v1/proxies", noise, 400),
            ("POST", "/proxies/x/toxics", noise, 404),
            ("PUT", "/v1/proxies/x/profile", noise, 404),
            ("GET", "/proxies/%ZZ", nil, 404),
            ("GET", "/v1/proxies/a%2Fb/toxics", nil, 404),
        ]
        for (method, path, body, status) in cases {
            let reply = try await serve.call(method, path, body: body)
            #expect(reply.status == status, "\(method) \(path): \(reply.status) \(reply.body.prefix(200))")
        }
        #expect(try await serve.call("GET", "/version").status == 200)
        await serve.stop()
    }

    @Test func aTokenIsRequiredWhenSetAndBodiesAreBounded() async throws {
        let serve = try await ServeHarness.start(token: "correct-horse-battery", maxBodyBytes: 4096)
        let none = try await serve.call("GET", "/proxies")
        #expect(none.status == 401)
        #expect(none.headers["www-authenticate"] == "Bearer")
        #expect(try await serve.call("GET", "/proxies", headers: ["Authorization": "Bearer wrong-horse-battery"]).status == 401)
        #expect(try await serve.call("GET", "/metrics").status == 401)
        let good = try await serve.call("GET", "/proxies", headers: ["Authorization": "Bearer correct-horse-battery"])
        #expect(good.status == 200)
        let big = try await serve.call(
            "POST", "/proxies", body: String(repeating: " ", count: 10_000) + "{}", headers: ["Authorization": "Bearer correct-horse-battery"]
        )
        #expect(big.status == 413)
        #expect(big.json?["error"]?.stringValue?.contains("at most 4096 bytes") == true)
        await serve.stop()
    }
}
