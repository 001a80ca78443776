import FaultlineCore
import FaultlineReplay
import Testing

/// What is compared, what is left out, and where requests may go.
struct ReplayComparisonTests {
    @Test func aProbeMustBeAPathOnTheTargetNeverAURL() async throws {
        let recorded = RecordedRequests(
            wire: .http,
            requests: [RecordedRequest(operation: "GET /a", wire: .http, bytes: Array("GET /a HTTP/1.1\r\n\r\n".utf8), source: "x:1")],
            messages: 1
        )
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: HostPort(host: "127.0.0.1", port: 9)))
        options.probes = ["GET http://elsewhere.example/accounts/1"]
        options.dryRun = true
        let error = await #expect(throws: InvalidInputError.self) {
            _ = try await IdempotencyCheck(options: options, recorded: recorded, inputs: ["x"]).run()
        }
        #expect(error?.description.contains("--target") == true)
    }

    @Test func anUnknownOnlyOperationIsRefusedWithTheOnesTheLogHas() async throws {
        let recorded = RecordedRequests(
            wire: .http,
            requests: [RecordedRequest(operation: "GET /a", wire: .http, bytes: Array("GET /a HTTP/1.1\r\n\r\n".utf8), source: "x:1")],
            messages: 1
        )
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: HostPort(host: "127.0.0.1", port: 9)))
        options.only = ["POST /b"]
        options.dryRun = true
        let error = await #expect(throws: InvalidInputError.self) {
            _ = try await IdempotencyCheck(options: options, recorded: recorded, inputs: ["x"]).run()
        }
        #expect(error?.description.contains("GET /a") == true)
    }

    @Test func badIgnoreFieldPathsAreRefused() {
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: HostPort(host: "127.0.0.1", port: 9)))
        options.ignoreFields = ["created_at"]
        #expect(throws: InvalidInputError.self) { try options.validate() }
        options.ignoreFields = ["$.created_at", "$.items[*].id"]
        #expect(throws: Never.self) { try options.validate() }
    }
}
