import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import Testing

/// Message faults on RESP, in front of a real `redis-server` (Debian's, from
/// `make test-deps`) on a free loopback port. Without redis-server these tests fail and
/// say how to install it; they never skip.
@Suite(.timeLimit(.minutes(1)))
struct MessageFaultsRedisTests {
    static let resp = FramingConfiguration(kind: .resp)

    /// Runs `body` with a fresh redis-server, stopped afterwards.
    static func withRedis<T>(_ body: (RedisServer) async throws -> T) async throws -> T {
        let redis = try await RedisServer.start()
        defer { redis.stop() }
        return try await body(redis)
    }

    /// One command on a new connection to `port`; its reply, or `TimedOut` after `limit`.
    static func send(_ port: Int, _ words: String..., limit: Duration = .seconds(20)) async throws -> SocketClient.Reply {
        try await SocketClient.call(port: port, request: RESPTestMessage.command(words), limit: limit, isComplete: RESPTestMessage.isComplete)
    }

    /// `GET key` straight to redis, not through the proxy.
    static func value(of key: String, in redis: RedisServer) async throws -> SocketClient.Reply {
        try await Self.send(redis.port, "GET", key)
    }

    /// Awaits the reply to the copy of `command` (at most 10 s).
    static func copyReply(of command: String, in events: AwaitableEventSink) async throws {
        let event = try await withTimeout(.seconds(10)) {
            try await events.first { $0.type == .duplicateReply && $0.command == command }
        }
        #expect(event.reason == nil && event.bytes != nil, "the copy of \(command) should get a reply: \(event)")
    }

    /// After `CLIENT REPLY OFF` the server answers nothing until `CLIENT REPLY ON`, so
    /// replies stop pairing with commands: a rule that drops the reply to SET must not
    /// then drop the reply to a later GET, which pairing by order would take for it.
    @Test func clientReplyOffStopsPairingSoReplyRulesNeverHitTheWrongReply() async throws {
        try await Self.withRedis { redis in
            let plan = FaultPlan(
                profile: try ProfileLoader().load(
                    text: """
                        faultline: 1
                        name: t
                        description: drop the reply to every SET
                        rules:
                          - {name: lose-set-reply, match: {direction: downstream, command: SET}, fault: {kind: drop}}

                        """,
                    file: "t.yaml"
                ),
                seed: 1
            )
            let events = AwaitableEventSink()
            let expected = "+OK\r\n$1\r\nv\r\n"
            let reply = try await withProxy(upstreamPort: redis.port, events: events, faults: plan, framing: Self.resp) { _, port in
                let request = ["CLIENT REPLY OFF", "SET k v", "CLIENT REPLY ON", "GET k"].map {
                    RESPTestMessage.command($0.split(separator: " ").map(String.init))
                }
                // A bound against a hang (10 s of silence was once reached with both
                // cores busy), not a speed check.
                return try await SocketClient.call(port: port, request: request.flatMap { $0 }, limit: .seconds(30)) {
                    $0.count >= expected.utf8.count
                }
            }
            #expect(reply == .reply(expected))
            #expect(events.events.filter { $0.type == .fault }.isEmpty)
        }
    }

    @Test func duplicateDeliveryIncrementsTwiceWhileSetLeavesTheValueAsItWas() async throws {
        try await Self.withRedis { redis in
            let events = AwaitableEventSink()
            let plan = FaultPlan(profile: try ProfileLoader().load("duplicate-delivery"), seed: 3)
            let (incremented, set) = try await withProxy(upstreamPort: redis.port, events: events, faults: plan, framing: Self.resp) { _, port in
                let incremented = try await Self.send(port, "INCR", "visits")
                try await Self.copyReply(of: "INCR", in: events)
                let set = try await Self.send(port, "SET", "greeting", "hello")
                try await Self.copyReply(of: "SET", in: events)
                return (incremented, set)
            }
            // The original and its copy race to the server: the client sees 1 or 2.
            #expect([SocketClient.Reply.reply(":1\r\n"), .reply(":2\r\n")].contains(incremented))
            #expect(set == .reply("+OK\r\n"))
            #expect(try await Self.value(of: "visits", in: redis) == .reply("$1\r\n2\r\n"), "INCR ran twice")
            #expect(try await Self.value(of: "greeting", in: redis) == .reply("$5\r\nhello\r\n"), "SET twice is SET once")

            let copies = events.events.filter { $0.type == .duplicateReply }
            #expect(copies.map(\.command) == ["INCR", "SET"])
            #expect(copies.allSatisfy { $0.rule == "deliver-twice" && $0.bytes != nil })
            let faults = events.events.filter { $0.type == .fault }
            #expect(faults.map(\.action) == ["duplicate", "duplicate"])
            #expect(Accounting.check(events.events) == [])
            let duplicated = events.events.filter { $0.type == .connectionClose }.compactMap(\.duplicatedUpstream)
            #expect(duplicated.sorted() == [RESPTestMessage.command("INCR", "visits").count, RESPTestMessage.command("SET", "greeting", "hello").count].sorted())
        }
    }

    @Test func respondAnswersWithARESPErrorAndTheServerNeverSeesTheCommand() async throws {
        try await Self.withRedis { redis in
            let events = AwaitableEventSink()
            let text = """
                faultline: 1
                name: no-writes
                description: writes are refused in the server's place
                framing: resp
                rules:
                  - name: refuse-set
                    match: {command: SET}
                    fault: {kind: respond, error: "ERR injected by faultline"}
                """
            let plan = FaultPlan(profile: try ProfileLoader(library: []).load(text: text, file: "no-writes.yaml"), seed: 1)
            let (set, ping) = try await withProxy(upstreamPort: redis.port, events: events, faults: plan, framing: Self.resp) { _, port in
                (try await Self.send(port, "SET", "k", "v"), try await Self.send(port, "PING"))
            }
            #expect(set == .reply("-ERR injected by faultline\r\n"))
            #expect(ping == .reply("+PONG\r\n"))
            #expect(try await Self.value(of: "k", in: redis) == .reply("$-1\r\n"), "the SET never reached redis")
            let fault = try #require(events.events.first { $0.type == .fault })
            #expect(fault.action == "respond" && fault.rule == "refuse-set" && fault.params?["error"] == "ERR injected by faultline")
            #expect(Accounting.check(events.events) == [])
        }
    }

    @Test func replyLostOnIncrRunsItOnceAndTheRetryRunsItAgain() async throws {
        try await Self.withRedis { redis in
            let events = AwaitableEventSink()
            let plan = FaultPlan(profile: try ProfileLoader().load("reply-lost"), seed: 5)
            let (first, retry) = try await withProxy(upstreamPort: redis.port, events: events, faults: plan, framing: Self.resp) { _, port in
                // The client gives up once its reply was dropped (a fixed timeout could
                // pass first on a loaded machine, and then nothing was dropped); the
                // retry goes after it: attempts follow arrival.
                let first = await Result(catching: {
                    try await SocketClient.call(port: port, request: RESPTestMessage.command(["INCR", "orders"]), isComplete: RESPTestMessage.isComplete) {
                        _ = try await withTimeout(.seconds(10)) { try await events.first { $0.type == .fault } }
                    }
                })
                let retry = try await Self.send(port, "INCR", "orders")
                return (first, retry)
            }
            #expect(throws: TimedOut.self) { try first.get() }
            // The same bytes are the same logical request (RESP has no key): attempt 1 passes.
            #expect(retry == .reply(":2\r\n"), "the lost reply's INCR did run")
            let fault = try #require(events.events.first { $0.type == .fault })
            #expect(fault.action == "drop" && fault.direction == .downstream && fault.params?["attempt"] == "0")
            #expect(Accounting.check(events.events) == [])
        }
    }
}
