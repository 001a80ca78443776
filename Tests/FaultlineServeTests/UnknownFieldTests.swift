import FaultlineCore
@testable import FaultlineServe
import FaultlineTestSupport
import Foundation
import Testing

/// What `/v1` does not know it refuses, naming it, instead of ignoring it; Toxiproxy's
/// routes ignore it, as Toxiproxy does.
@Suite(.timeLimit(.minutes(2)))
struct UnknownFieldTests {
    /// A mistyped field on create is a 400 that names it, says where it is and what it
    /// was probably meant to be; nothing is created.
    @Test func aMistypedFieldOnCreateIsRefusedWhereItIs() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let body = """
            {"name": "x",
             "upstream": "127.0.0.1:\(upstream.port)",
             "framming": "http"}
            """
        let refused = try await serve.call("POST", "/v1/proxies", body: body)
        #expect(refused.status == 400, "\(refused)")
        let message = refused.json?["error"]?["message"]?.stringValue ?? ""
        #expect(message.hasPrefix("bad request body: unknown field 'framming' at line 3, column 2 (did you mean 'framing'?); a proxy takes name, upstream, listen"), "\(refused)")
        #expect(try await serve.call("GET", "/v1/proxies/x").status == 404)

        // Two at once, in the order they are written; one with no likely meaning.
        let two = try await serve.call("POST", "/v1/proxies", body: #"{"name":"x","sead":1,"upstream":"127.0.0.1:1","colour":"red"}"#)
        #expect(two.status == 400, "\(two)")
        #expect(
            two.json?["error"]?["message"]?.stringValue?.hasPrefix(
                "bad request body: unknown fields 'sead' at line 1, column 13 (did you mean 'seed'?), 'colour' at line 1, column 47;"
            ) == true, "\(two)"
        )

        // Toxiproxy's create ignores what it does not know, as Toxiproxy does.
        let lenient = try await serve.call("POST", "/proxies", body: #"{"name":"t","upstream":"127.0.0.1:\#(upstream.port)","framming":"http"}"#)
        #expect(lenient.status == 201, "\(lenient)")
        await serve.stop()
        await upstream.stop()
    }

    /// PATCH refuses a mistyped field too, but takes a proxy as GET answered it with a
    /// field changed; Toxiproxy's update ignores what it does not know.
    @Test func aMistypedFieldOnChangeIsRefusedAndAProxySentBackIsTaken() async throws {
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"p","upstream":"127.0.0.1:\#(upstream.port)"}"#)
        #expect(made.status == 201, "\(made)")

        let typo = try await serve.call("PATCH", "/v1/proxies/p", body: #"{"enabeld":false}"#)
        #expect(typo.status == 400, "\(typo)")
        #expect(typo.json?["error"]?["message"]?.stringValue?.contains("unknown field 'enabeld' at line 1, column 2 (did you mean 'enabled'?)") == true, "\(typo)")
        #expect(try await serve.call("GET", "/v1/proxies/p").json?["enabled"] == true)

        // The answer sent back, with one field changed.
        guard case .object(var members)? = made.json else {
            Issue.record("not an object: \(made)")
            return
        }
        if let index = members.firstIndex(where: { $0.0 == "enabled" }) { members[index].1 = false }
        let sentBack = try await serve.call("PATCH", "/v1/proxies/p", body: JSONValue.object(members).text)
        #expect(sentBack.status == 200, "\(sentBack)")
        #expect(sentBack.json?["enabled"] == false, "\(sentBack)")

        #expect(try await serve.call("POST", "/proxies/p", body: #"{"enabled":true,"colour":"red"}"#).status == 200)

        let reference = try await serve.call("PUT", "/v1/proxies/p/profile", body: #"{"name":"slow-reply","nmae":"x"}"#)
        #expect(reference.status == 400, "\(reference)")
        #expect(reference.json?["error"]?["message"]?.stringValue?.contains("unknown field 'nmae'") == true, "\(reference)")
        await serve.stop()
        await upstream.stop()
    }

    /// An event type the log never holds is a 400 listing those it does, not an empty 200.
    @Test func anUnknownEventTypeIsRefusedWithTheValidOnes() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-types-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: directory))
        #expect(try await serve.call("POST", "/v1/proxies", body: #"{"name":"e","upstream":"127.0.0.1:\#(upstream.port)"}"#).status == 201)
        let refused = try await serve.call("GET", "/v1/proxies/e/events?type=nonsense")
        #expect(refused.status == 400, "\(refused)")
        let message = refused.json?["error"]?["message"]?.stringValue ?? ""
        #expect(message.contains("no event type 'nonsense'"), "\(refused)")
        #expect(message.contains("conn_close") && message.contains("plan_change"), "\(refused)")
        let known = try await serve.call("GET", "/v1/proxies/e/events?type=proxy_start")
        #expect(known.status == 200, "\(known)")
        #expect(known.body.contains(#""type":"proxy_start""#), "\(known)")
        await serve.stop()
        await upstream.stop()
    }

    /// Every type listed is one the event log writes.
    @Test func theListedEventTypesAreTheLogs() {
        #expect(Set(ControlAPI.eventTypes) == Set(Event.Kind.allCases.map(\.rawValue)))
        #expect(ControlAPI.eventTypes.contains("plan_change") && ControlAPI.eventTypes.contains("accept_failed"))
    }
}
