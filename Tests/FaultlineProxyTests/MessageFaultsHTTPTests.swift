import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

/// Message faults on HTTP/1.1, between a real client socket and a server in this
/// process that counts how many times it executed each request.
@Suite(.timeLimit(.minutes(1)))
struct MessageFaultsHTTPTests {
    /// Without `--max-hold`'s bound, which is wall-clock time: a full suite run on a
    /// loaded machine once held pipelined requests split across two reads for over 2 s,
    /// and the fallback to raw then hid the later requests from the rules
    /// (`FramingEndToEndTests` covers the bound itself).
    static let http = FramingConfiguration(kind: .http, limits: FramingLimits(maxHoldNanoseconds: nil))

    /// A shipped profile by name, bound to a seed.
    static func shipped(_ name: String, seed: UInt64 = 7) throws -> FaultPlan {
        FaultPlan(profile: try ProfileLoader().load(name), seed: seed)
    }

    /// A profile written in the test (framing http), bound to a seed.
    static func plan(_ rules: String, seed: UInt64 = 7) throws -> FaultPlan {
        let text = "faultline: 1\nname: messages\ndescription: message test\nframing: http\nrules:\n" + rules
        return FaultPlan(profile: try ProfileLoader(library: []).load(text: text, file: "messages.yaml"), seed: seed)
    }

    /// One request on a new connection; the reply, a reset, an end, or `TimedOut`.
    static func call(_ port: Int, _ request: String, limit: Duration = .seconds(20)) async throws -> SocketClient.Reply {
        try await SocketClient.call(port: port, request: Array(request.utf8), limit: limit, isComplete: HTTPTestMessage.isCompleteResponse)
    }

    /// One request whose client gives up (`TimedOut`) once the proxy logged a fault, as
    /// a client that is meant to give up on a lost reply or request. A fixed timeout
    /// would not do: on a loaded machine the client could leave before the proxy had
    /// anything to lose.
    static func callUntilFault(_ port: Int, _ request: String, _ events: AwaitableEventSink) async throws -> SocketClient.Reply {
        try await SocketClient.call(port: port, request: Array(request.utf8), isComplete: HTTPTestMessage.isCompleteResponse) {
            _ = try await Self.event(events) { $0.type == .fault }
        }
    }

    /// The connections the proxy opened to the server: one per client connection, one
    /// per copy of a duplicated request.
    static func upstreamConnections(_ events: AwaitableEventSink) -> Int {
        events.events.filter { $0.type == .connectionOpen || ($0.type == .duplicateReply && $0.reason == nil) }.count
    }

    /// Awaits `condition` for at most 10 s: a broken feature fails the test, never hangs it.
    static func wait(_ condition: @escaping @Sendable () async -> Void) async throws {
        try await withTimeout(.seconds(10), condition)
    }

    /// The first event that `matches`, awaited for at most 10 s.
    static func event(_ events: AwaitableEventSink, _ matches: @escaping @Sendable (Event) -> Bool) async throws -> Event {
        try await withTimeout(.seconds(10)) { try await events.first(where: matches) }
    }

    static func expectTruthfulAccounting(_ events: AwaitableEventSink, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(Accounting.check(events.events) == [], sourceLocation: sourceLocation)
        #expect(events.events.contains { $0.type == .connectionClose }, sourceLocation: sourceLocation)
    }

    static func faults(_ events: AwaitableEventSink) -> [Event] {
        events.events.filter { $0.type == .fault }
    }

    // MARK: The shipped profiles

    @Test func duplicateDeliveryExecutesTheRequestTwiceAndTheClientSeesOneReply() async throws {
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let request = HTTPTestMessage.request("POST", "/orders", id: "order-1", key: "k-1", body: "{\"qty\":1}")
        let reply = try await withProxy(upstreamPort: server.port, events: events, faults: try Self.shipped("duplicate-delivery"), framing: Self.http) { _, port in
            let reply = try await Self.call(port, request)
            try await Self.wait { await server.waitForExecutions(of: "order-1", count: 2) }
            _ = try await Self.event(events) { $0.type == .duplicateReply }
            return reply
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        guard case .reply(let text) = reply else {
            Issue.record("the client should get its reply, got \(reply)")
            return
        }
        #expect(text.hasPrefix("HTTP/1.1 200 OK") && text.contains("order-1 executed"))
        #expect(server.executions(of: "order-1") == 2)
        let fault = try #require(Self.faults(events).first)
        #expect(fault.rule == "deliver-twice" && fault.action == "duplicate" && fault.unit == 0 && fault.direction == .upstream)
        let copy = try #require(events.events.first { $0.type == .duplicateReply })
        #expect(copy.status == 200 && copy.unit == 0 && copy.rule == "deliver-twice" && copy.idempotencyKey == "k-1")
        #expect(copy.params?["request_bytes"] == String(request.utf8.count))
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.duplicatedUpstream == request.utf8.count)
        #expect(close.bytesToUpstream == request.utf8.count)
        Self.expectTruthfulAccounting(events)
    }

    @Test func serverCrashAfterProcessingExecutesOnceAndResetsTheClientThenTheRetryPasses() async throws {
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let request = HTTPTestMessage.request("POST", "/payments", id: "pay-1", key: "k-pay", body: "{\"amount\":5}")
        let (first, retry) = try await withProxy(
            upstreamPort: server.port, events: events, faults: try Self.shipped("server-crash-after-processing"), framing: Self.http
        ) { _, port in
            let first = try await Self.call(port, request)
            let retry = try await Self.call(port, request)
            return (first, retry)
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        #expect(first == .reset(""), "the first attempt's reply must never reach the client")
        guard case .reply(let text) = retry else {
            Issue.record("the retry should get its reply, got \(retry)")
            return
        }
        #expect(text.contains("pay-1 executed 2"))
        #expect(server.executions(of: "pay-1") == 2)
        let faults = Self.faults(events)
        #expect(faults.count == 1)
        let fault = try #require(faults.first)
        #expect(fault.rule == "crash-before-reply" && fault.action == "reset" && fault.direction == .downstream)
        #expect(fault.params?["at"] == "first_reply_byte" && fault.params?["attempt"] == "0" && fault.params?["request_unit"] == "0")
        let closes = events.events.filter { $0.type == .connectionClose }.sorted { $0.conn! < $1.conn! }
        #expect(closes.first?.bytesToClient == 0)
        #expect(closes.first?.droppedDownstream == HTTPTestMessage.response(body: "pay-1 executed 1").utf8.count)
        Self.expectTruthfulAccounting(events)
    }

    @Test func replyLostExecutesOnceWhileTheClientTimesOutThenTheRetryPasses() async throws {
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let request = HTTPTestMessage.request("PUT", "/profile", id: "put-1", body: "name=x")
        let (first, retry) = try await withProxy(
            upstreamPort: server.port, events: events, faults: try Self.shipped("reply-lost"), framing: Self.http
        ) { _, port in
            let first = await Result(catching: { try await Self.callUntilFault(port, request, events) })
            // The first attempt was counted before the retry goes: attempts follow arrival.
            try await Self.wait { await server.waitForExecutions(of: "put-1", count: 1) }
            let retry = try await Self.call(port, request)
            return (first, retry)
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        #expect(throws: TimedOut.self) { try first.get() }
        #expect(retry == .reply(HTTPTestMessage.response(body: "put-1 executed 2")))
        #expect(server.executions(of: "put-1") == 2)
        let fault = try #require(Self.faults(events).first)
        #expect(fault.rule == "lose-first-reply" && fault.action == "drop" && fault.direction == .downstream && fault.unit == 0)
        #expect(Self.faults(events).count == 1)
        let closes = events.events.filter { $0.type == .connectionClose }.sorted { $0.conn! < $1.conn! }
        #expect(closes.first?.droppedDownstream == HTTPTestMessage.response(body: "put-1 executed 1").utf8.count)
        Self.expectTruthfulAccounting(events)
    }

    /// What a POST sees under each POST-only profile; other methods pass untouched.
    enum PostOutcome: Sendable {
        case twoExecutionsOneReply
        case oneExecutionAndAReset
        case oneExecutionAndATimeout
    }

    static let postVariants: [(String, PostOutcome)] = [
        ("duplicate-delivery-post", .twoExecutionsOneReply),
        ("server-crash-after-processing-post", .oneExecutionAndAReset),
        ("reply-lost-post", .oneExecutionAndATimeout),
    ]

    @Test(arguments: postVariants)
    func postVariantsFaultPostsOnly(profile: String, outcome: PostOutcome) async throws {
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let plan = try Self.shipped(profile)
        #expect(plan.profile.framing == .http)
        let (get, post) = try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: Self.http) { _, port in
            let get = try await Self.call(port, HTTPTestMessage.request("GET", "/orders/1", id: "get"))
            let post: Result<SocketClient.Reply, any Error>
            switch outcome {
            case .twoExecutionsOneReply:
                post = await Result(catching: { try await Self.call(port, HTTPTestMessage.request("POST", "/orders", id: "post", body: "x")) })
                try await Self.wait { await server.waitForExecutions(of: "post", count: 2) }
                _ = try await Self.event(events) { $0.type == .duplicateReply }
            case .oneExecutionAndAReset:
                post = await Result(catching: { try await Self.call(port, HTTPTestMessage.request("POST", "/orders", id: "post", body: "x")) })
            case .oneExecutionAndATimeout:
                post = await Result(catching: { try await Self.callUntilFault(port, HTTPTestMessage.request("POST", "/orders", id: "post", body: "x"), events) })
                try await Self.wait { await server.waitForExecutions(of: "post", count: 1) }
            }
            return (get, post)
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        #expect(get == .reply(HTTPTestMessage.response(body: "get executed 1")))
        #expect(server.executions(of: "get") == 1)
        #expect(Self.faults(events).allSatisfy { $0.conn == 1 }, "only the POST's connection is faulted")
        switch outcome {
        case .twoExecutionsOneReply:
            #expect(try post.get() != .reset(""))
            guard case .reply(let text) = try post.get() else {
                Issue.record("the POST should get one reply")
                return
            }
            #expect(text.contains("post executed"))
            #expect(server.executions(of: "post") == 2)
        case .oneExecutionAndAReset:
            #expect(try post.get() == .reset(""))
            #expect(server.executions(of: "post") == 1)
        case .oneExecutionAndATimeout:
            #expect(throws: TimedOut.self) { try post.get() }
            #expect(server.executions(of: "post") == 1)
        }
        Self.expectTruthfulAccounting(events)
    }

    // MARK: respond, and attempts of one logical request

    @Test func respondAnswersTheFirstTwoAttemptsInTheServersPlaceThenLetsTheThirdThrough() async throws {
        let plan = try Self.plan(
            """
              - name: busy
                match: {method: POST, attempt: {first: 2}}
                fault: {kind: respond, status: 503, headers: {Retry-After: "1"}, body: "busy"}
            """
        )
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let request = HTTPTestMessage.request("POST", "/orders", id: "o", key: "key-7", body: "{}")
        let replies = try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: Self.http) { _, port in
            var replies: [SocketClient.Reply] = []
            for _ in 0..<3 { replies.append(try await Self.call(port, request)) }
            return replies
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        let busyText = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy"
        let busy = SocketClient.Reply.reply(busyText)
        #expect(replies == [busy, busy, .reply(HTTPTestMessage.response(body: "o executed 1"))])
        #expect(server.executions(of: "o") == 1, "answered attempts never reach the server")
        let faults = Self.faults(events)
        #expect(faults.map(\.action) == ["respond", "respond"])
        #expect(faults.map(\.conn) == [0, 1])
        #expect(faults.map { $0.params?["attempt"] } == ["0", "1"])
        #expect(faults.first?.params?["status"] == "503" && faults.first?.params?["header.Retry-After"] == "1")
        let closes = events.events.filter { $0.type == .connectionClose }.sorted { $0.conn! < $1.conn! }
        #expect(closes.prefix(2).allSatisfy { $0.droppedUpstream == request.utf8.count && $0.bytesToUpstream == 0 })
        #expect(closes.prefix(2).allSatisfy { $0.injectedDownstream == busyText.utf8.count && $0.bytesToClient == 0 })
        Self.expectTruthfulAccounting(events)
    }

    @Test func withoutAKeyAttemptsAreGroupedByFingerprint() async throws {
        let plan = try Self.plan(
            """
              - name: first-attempt-fails
                match: {attempt: {first: 1}}
                fault: {kind: respond, status: 500}
            """
        )
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let replies = try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: Self.http) { _, port in
            [
                try await Self.call(port, HTTPTestMessage.request("POST", "/a", id: "a", body: "one")),
                try await Self.call(port, HTTPTestMessage.request("POST", "/a", id: "a", body: "one")),
                // Another body: another logical request, whose first attempt fails.
                try await Self.call(port, HTTPTestMessage.request("POST", "/a", id: "a", body: "two")),
            ]
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        let failed = SocketClient.Reply.reply("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
        #expect(replies == [failed, .reply(HTTPTestMessage.response(body: "a executed 1")), failed])
        Self.expectTruthfulAccounting(events)
    }

    @Test func anAnswerToAPipelinedRequestWaitsForTheRepliesOwedBeforeIt() async throws {
        let plan = try Self.plan(
            """
              - name: refuse-post
                match: {method: POST}
                fault: {kind: respond, status: 429, headers: {Retry-After: "3"}}
            """
        )
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let pipelined = [
            HTTPTestMessage.request("GET", "/a", id: "a"),
            HTTPTestMessage.request("POST", "/b", id: "b", body: "x"),
            HTTPTestMessage.request("GET", "/c", id: "c"),
        ].joined()
        let reply = try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: Self.http) { _, port in
            try await SocketClient.call(port: port, request: Array(pipelined.utf8)) { HTTPTestMessage.completeMessages(in: $0) >= 3 }
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        let expected = HTTPTestMessage.response(body: "a executed 1")
            + "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n"
            + HTTPTestMessage.response(body: "c executed 1")
        #expect(reply == .reply(expected))
        #expect(server.executionOrder == ["a", "c"])
        #expect(Self.faults(events).map(\.unit) == [1])
        Self.expectTruthfulAccounting(events)
    }

    @Test func headerMatchesSelectByPresenceOrValue() async throws {
        let plan = try Self.plan(
            """
              - name: chaos-on
                match: {header: {name: x-chaos, value: "on"}}
                fault: {kind: respond, status: 500}
              - name: any-debug
                match: {header: X-Debug, path: "/api/**"}
                fault: {kind: respond, status: 429}
            """
        )
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let replies = try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: Self.http) { _, port in
            [
                try await Self.call(port, "GET /a HTTP/1.1\r\nHost: t\r\nX-Chaos: on\r\nX-Request-Id: 1\r\n\r\n"),
                try await Self.call(port, "GET /a HTTP/1.1\r\nHost: t\r\nX-Chaos: off\r\nX-Request-Id: 2\r\n\r\n"),
                try await Self.call(port, "GET /api/v1/orders HTTP/1.1\r\nHost: t\r\nX-Debug: \r\nX-Request-Id: 3\r\n\r\n"),
                try await Self.call(port, "GET /other HTTP/1.1\r\nHost: t\r\nX-Debug: 1\r\nX-Request-Id: 4\r\n\r\n"),
            ]
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        #expect(replies == [
            .reply("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"),
            .reply(HTTPTestMessage.response(body: "2 executed 1")),
            .reply("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n"),
            .reply(HTTPTestMessage.response(body: "4 executed 1")),
        ])
        #expect(Self.faults(events).map(\.rule) == ["chaos-on", "any-debug"])
        Self.expectTruthfulAccounting(events)
    }

    // MARK: drop, reorder, delay, sever

    @Test func aDroppedRequestNeverReachesTheServerAndTheClientWaits() async throws {
        let plan = try Self.plan(
            """
              - name: lose-deletes
                match: {method: DELETE, direction: upstream}
                fault: {kind: drop}
            """
        )
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let request = HTTPTestMessage.request("DELETE", "/orders/9", id: "del")
        let (deleted, read) = try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: Self.http) { _, port in
            let deleted = await Result(catching: { try await Self.callUntilFault(port, request, events) })
            let read = try await Self.call(port, HTTPTestMessage.request("GET", "/orders/9", id: "get"))
            return (deleted, read)
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        #expect(throws: TimedOut.self) { try deleted.get() }
        #expect(read == .reply(HTTPTestMessage.response(body: "get executed 1")))
        #expect(server.executions(of: "del") == 0)
        let fault = try #require(Self.faults(events).first)
        #expect(fault.action == "drop" && fault.direction == .upstream && fault.rule == "lose-deletes")
        // The connection the drop happened on: ordinals follow the order the proxy took
        // connections up, which on a busy machine need not be the order they arrived in.
        let close = try #require(events.events.first { $0.type == .connectionClose && $0.conn == fault.conn })
        #expect(
            close.droppedUpstream == request.utf8.count && close.bytesToUpstream == 0,
            "fault on conn \(fault.conn ?? 99); close: from client \(close.bytesFromClient ?? -1), to upstream \(close.bytesToUpstream ?? -1), dropped \(close.droppedUpstream ?? -1), reason \(close.reason ?? "-"); request \(request.utf8.count) bytes"
        )
        Self.expectTruthfulAccounting(events)
    }

    /// Across connections to one upstream: while the first connection's request is held,
    /// a later connection's request goes on and is served first.
    @Test func reorderAcrossConnectionsLetsALaterConnectionOvertake() async throws {
        let plan = try Self.plan(
            """
              - name: hold-the-first
                match: {connections: {first: 1}, message: {first: 1}}
                fault: {kind: reorder, after: 64, delay: 60s}
            """
        )
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let expectedFirst = HTTPTestMessage.response(body: "a executed 1")
        let (first, second) = try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: Self.http) { _, port in
            let client = try await TestClient.connect(port: port)
            return try await client.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: HTTPTestMessage.request("GET", "/a", id: "a")))
                // The first request is held before the second connection opens.
                _ = try await Self.event(events) { $0.type == .fault && $0.action == "reorder" }
                let second = try await Self.call(port, HTTPTestMessage.request("GET", "/b", id: "b"))
                // The first client stops sending: its held request goes on at once.
                outbound.finish()
                let first = try await withTimeout(.seconds(10)) {
                    var iterator = inbound.makeAsyncIterator()
                    return String(buffer: try await TestClient.read(atLeast: expectedFirst.utf8.count, from: &iterator))
                }
                return (first, second)
            }
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        #expect(server.executionOrder == ["b", "a"])
        #expect(first == expectedFirst)
        #expect(second == .reply(HTTPTestMessage.response(body: "b executed 1")))
        let faults = Self.faults(events)
        #expect(faults.map(\.action) == ["reorder", "released"])
        #expect(faults.allSatisfy { $0.conn == 0 })
        Self.expectTruthfulAccounting(events)
    }

    @Test func reorderHoldsAPipelinedRequestUntilTheNextWentOn() async throws {
        let plan = try Self.plan(
            """
              - name: late-first
                match: {message: {first: 1}}
                fault: {kind: reorder, after: 2, delay: 30s}
            """
        )
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let pipelined = ["one", "two", "three", "four"].map { HTTPTestMessage.request("GET", "/\($0)", id: $0) }.joined()
        let reply = try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: Self.http) { _, port in
            try await SocketClient.call(port: port, request: Array(pipelined.utf8)) { HTTPTestMessage.completeMessages(in: $0) >= 4 }
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        #expect(server.executionOrder == ["two", "three", "one", "four"])
        // The server answers in the order it got them; the replies pair with those.
        guard case .reply(let text) = reply else {
            Issue.record("expected four replies, got \(reply)")
            return
        }
        #expect(text.components(separatedBy: "executed").count == 5)
        let replies = events.events.filter { $0.type == .message && $0.direction == .downstream }
        #expect(replies.map(\.path) == ["/two", "/three", "/one", "/four"])
        let faults = Self.faults(events)
        #expect(faults.map(\.action) == ["reorder", "released"])
        #expect(faults.allSatisfy { $0.unit == 0 && $0.rule == "late-first" && $0.params?["after"] == "2" })
        #expect(faults.last?.params?["reason"] == "later requests went on")
        Self.expectTruthfulAccounting(events)
    }

    @Test func aDelayedReplyKeepsItsPlaceAmongPipelinedReplies() async throws {
        let plan = try Self.plan(
            """
              - name: slow-first-reply
                match: {direction: downstream, path: /slow}
                fault: {kind: delay, latency: 200ms}
            """
        )
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let pipelined = [HTTPTestMessage.request("GET", "/slow", id: "slow"), HTTPTestMessage.request("GET", "/fast", id: "fast")].joined()
        let reply = try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: Self.http) { _, port in
            try await SocketClient.call(port: port, request: Array(pipelined.utf8)) { HTTPTestMessage.completeMessages(in: $0) >= 2 }
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        #expect(reply == .reply(HTTPTestMessage.response(body: "slow executed 1") + HTTPTestMessage.response(body: "fast executed 1")))
        let faults = Self.faults(events)
        #expect(faults.count == 1)
        #expect(faults.first?.action == "delay" && faults.first?.params?["delay"] == "200ms" && faults.first?.direction == .downstream)
        Self.expectTruthfulAccounting(events)
    }

    @Test func severMidMessageCutsTheRequestInHalfAndTheServerNeverRunsIt() async throws {
        let plan = try Self.plan(
            """
              - name: cut-upload
                match: {method: POST}
                fault: {kind: sever, mode: reset, at: mid_message}
            """
        )
        let server = try await CountingHTTPServer.start()
        let events = AwaitableEventSink()
        let request = HTTPTestMessage.request("POST", "/upload", id: "up", body: String(repeating: "z", count: 400))
        let reply = try await withProxy(upstreamPort: server.port, events: events, faults: plan, framing: Self.http) { _, port in
            try await Self.call(port, request)
        }
        await server.stop(afterServing: Self.upstreamConnections(events))

        #expect(reply == .reset(""))
        #expect(server.executions(of: "up") == 0)
        let fault = try #require(Self.faults(events).first)
        #expect(fault.action == "reset" && fault.params?["at"] == "mid_message" && fault.unit == 0)
        let close = try #require(events.events.first { $0.type == .connectionClose })
        #expect(close.droppedUpstream == request.utf8.count - request.utf8.count / 2)
        Self.expectTruthfulAccounting(events)
    }

    // MARK: Determinism

    @Test func theSameSeedAndTrafficGiveTheSameFaults() async throws {
        let rules = """
              - name: coin
                per: message
                probability: 0.5
                match: {direction: upstream}
                fault: {kind: respond, status: 503}
            """
        let pipelined = (0..<24).map { HTTPTestMessage.request("GET", "/r\($0)", id: "r\($0)") }.joined()
        /// The units the rule answered, and what the client got and the log says of the
        /// connection's end (for a failure's message).
        func run(seed: UInt64) async throws -> (units: [UInt64], story: String) {
            let server = try await CountingHTTPServer.start()
            let events = AwaitableEventSink()
            let reply = try await withProxy(upstreamPort: server.port, events: events, faults: try Self.plan(rules, seed: seed), framing: Self.http) { _, port in
                try await SocketClient.call(port: port, request: Array(pipelined.utf8)) { HTTPTestMessage.completeMessages(in: $0) >= 24 }
            }
            await server.stop(afterServing: Self.upstreamConnections(events))
            Self.expectTruthfulAccounting(events)
            let close = events.events.first { $0.type == .connectionClose }
            let (kind, text) =
                switch reply {
                case .reply(let text): ("complete", text)
                case .eof(let text): ("ended by FIN", text)
                case .reset(let text): ("reset", text)
                }
            let story = """
                reply \(kind), \(HTTPTestMessage.completeMessages(in: Array(text.utf8))) whole messages; \
                conn_close reason \(close?.reason ?? "-") closed by \(close?.closedBy ?? "-"); \
                events \(events.events.map { "\($0.type.rawValue)\($0.unit.map { " \($0)" } ?? "")\($0.reason.map { " (\($0))" } ?? "")" })
                """
            return (Self.faults(events).compactMap(\.unit), story)
        }
        let first = try await run(seed: 99)
        let second = try await run(seed: 99)
        #expect(first.units == second.units, "first: \(first.story)\nsecond: \(second.story)")
        #expect(!first.units.isEmpty && first.units.count < 24)
    }
}
