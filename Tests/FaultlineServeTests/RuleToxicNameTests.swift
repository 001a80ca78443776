import FaultlineCore
import FaultlineServe
import FaultlineTestSupport
import Foundation
import Testing

/// Rules and toxics share one set of names on a proxy. A name held by the other kind is
/// refused with what holds it and how to free it, in each API's own shape.
@Suite(.timeLimit(.minutes(2)))
struct RuleToxicNameTests {
    /// A Toxiproxy client lists toxics only: the rule in its way is named, with the
    /// request that removes it, under Toxiproxy's 409 `toxic already exists`.
    @Test func aToxicWhoseNameARuleHoldsSaysWhichRuleAndHowToFreeIt() async throws {
        let serve = try await ServeHarness.start()
        _ = try await serve.create(#"{"name":"rt","upstream":"127.0.0.1:1"}"#)
        let rule = try await serve.call("POST", "/v1/proxies/rt/rules", body: #"{"name":"bandwidth_downstream","fault":{"kind":"delay","latency":"1ms"}}"#)
        #expect(rule.status == 201, "\(rule)")

        let toxic = try await serve.call("POST", "/proxies/rt/toxics", body: #"{"type":"bandwidth","attributes":{"rate":100}}"#)
        #expect(toxic.status == 409, "\(toxic)")
        #expect(toxic.json?["status"] == .integer(409))
        #expect(toxic.headers["content-type"] == "text/plain; charset=utf-8")
        let message = try #require(toxic.json?["error"]?.stringValue, "\(toxic)")
        #expect(message.hasPrefix("toxic already exists: a rule added through /v1"), "\(message)")
        #expect(message.contains("DELETE /v1/proxies/rt/rules/bandwidth_downstream"), "\(message)")
        #expect(message.contains(#"give the toxic another "name""#), "\(message)")
        let native = try await serve.call("POST", "/v1/proxies/rt/toxics", body: #"{"type":"bandwidth","attributes":{"rate":100}}"#)
        #expect(native.status == 409, "\(native)")
        #expect(native.json?["error"]?["message"]?.stringValue?.hasPrefix("toxic 'bandwidth_downstream' cannot be added: a rule added through /v1") == true, "\(native)")

        // Freed as it says, the toxic goes on.
        #expect(try await serve.call("DELETE", "/v1/proxies/rt/rules/bandwidth_downstream").status == 204)
        #expect(try await serve.call("POST", "/proxies/rt/toxics", body: #"{"type":"bandwidth","attributes":{"rate":100}}"#).status == 200)

        // A profile's rule: the profile is named, and how to change it.
        let profile = "faultline: 1\nname: held\ndescription: d\nrules:\n  - {name: latency_upstream, fault: {kind: delay, latency: 1ms}}\n"
        let put = try await serve.call("PUT", "/v1/proxies/rt/profile", body: profile, headers: ["Content-Type": "application/yaml"])
        #expect(put.status == 200, "\(put)")
        let held = try await serve.call("POST", "/proxies/rt/toxics", body: #"{"type":"latency","stream":"upstream"}"#)
        #expect(held.status == 409, "\(held)")
        let heldMessage = held.json?["error"]?.stringValue ?? ""
        #expect(heldMessage.hasPrefix("toxic already exists: a rule of the profile 'held'"), "\(held)")
        #expect(heldMessage.contains("/v1/proxies/rt/profile"), "\(held)")
        await serve.stop()
    }

    /// A toxic's rule is read on `/v1/proxies/{p}/rules/{r}`; deleting it there says it
    /// is the toxic's, and which request removes it (as for a profile's rule).
    @Test func deletingAToxicsRuleNamesTheToxicToDelete() async throws {
        let serve = try await ServeHarness.start()
        _ = try await serve.create(#"{"name":"p/q","upstream":"127.0.0.1:1"}"#)
        #expect(try await serve.call("POST", "/proxies/p%2Fq/toxics", body: #"{"type":"latency","attributes":{"latency":5}}"#).status == 200)
        let read = try await serve.call("GET", "/v1/proxies/p%2Fq/rules/latency_downstream")
        #expect(read.status == 200 && read.json?["source"] == "toxic", "\(read)")

        let refused = try await serve.call("DELETE", "/v1/proxies/p%2Fq/rules/latency_downstream")
        #expect(refused.status == 409, "\(refused)")
        #expect(
            refused.json?["error"]?["message"]
                == "rule 'latency_downstream' belongs to the toxic 'latency_downstream' on proxy 'p/q': delete it with DELETE /proxies/p%2Fq/toxics/latency_downstream",
            "\(refused)"
        )
        #expect(try await serve.call("GET", "/v1/proxies/p%2Fq/rules/latency_downstream").status == 200, "still there")
        #expect(try await serve.call("DELETE", "/proxies/p%2Fq/toxics/latency_downstream").status == 204)
        #expect(try await serve.call("DELETE", "/v1/proxies/p%2Fq/rules/latency_downstream").status == 404)
        await serve.stop()
    }
}
