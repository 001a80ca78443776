import FaultlineCore
import FaultlineServe
import FaultlineTestSupport
import Foundation
import Synchronization
import Testing

/// Plans changed while connections stream, and the API under many clients: no
/// connection dropped, no byte lost, every request answered. Bounded in time.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ServeLoadTests {
    /// Toxics and profiles switched through the API while 100 connections stream:
    /// every connection keeps every byte and ends cleanly.
    @Test func profileSwitchedUnderLoadDropsNothing() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-load-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start(options: ServeOptions(logDirectory: directory))
        let made = try await serve.call("POST", "/v1/proxies", body: #"{"name":"busy","listen":"127.0.0.1:0","upstream":"127.0.0.1:\#(upstream.port)","seed":"1"}"#)
        let port = Traffic.port(of: try #require(made.json?["listen"]?.stringValue))
        let streams = (0..<100).map { EchoStream(port: port, seed: UInt8($0)) }
        let outcomes = Task {
            await withTaskGroup(of: EchoStream.Outcome.self) { group in
                for stream in streams { group.addTask { await stream.run() } }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
        // Every stream connected (to the upstream too) before the first change.
        let opened = try await serve.follow("/v1/proxies/busy/events?type=conn_open&limit=1000&follow=true", within: .seconds(60)) { $0.count >= 100 }
        #expect(opened.count == 100)
        let changes: [(String, String, String?, [String: String])] = [
            ("POST", "/proxies/busy/toxics", #"{"name":"lag","type":"latency","attributes":{"latency":20,"jitter":10}}"#, [:]),
            ("POST", "/proxies/busy/toxics", #"{"name":"pieces","type":"slicer","stream":"upstream","attributes":{"average_size":100,"delay":200}}"#, [:]),
            ("PUT", "/v1/proxies/busy/profile", #"{"name":"slow-reply"}"#, [:]),
            ("POST", "/proxies/busy/toxics/lag", #"{"attributes":{"latency":5},"toxicity":0.5}"#, [:]),
            ("POST", "/proxies/busy/toxics", #"{"name":"narrow","type":"bandwidth","attributes":{"rate":5000}}"#, [:]),
            ("DELETE", "/v1/proxies/busy/profile", nil, [:]),
            ("DELETE", "/proxies/busy/toxics/pieces", nil, [:]),
            ("DELETE", "/proxies/busy/toxics/lag", nil, [:]),
            ("DELETE", "/proxies/busy/toxics/narrow", nil, [:]),
        ]
        var versions: [Double] = []
        for (method, path, body, headers) in changes {
            // Let traffic flow under each plan for a moment (not a wait for an event:
            // the streams run all along; this only spreads the changes over them).
            try await Task.sleep(for: .milliseconds(300))
            let reply = try await serve.call(method, path, body: body, headers: headers)
            #expect((200..<300).contains(reply.status), "\(method) \(path): \(reply)")
            let proxy = try await serve.call("GET", "/v1/proxies/busy")
            versions.append(proxy.json?["plan_version"]?.doubleValue ?? -1)
            #expect(proxy.json?["open"]?.doubleValue == 100, "open connections after \(method) \(path): \(proxy)")
        }
        #expect(versions == versions.sorted() && Set(versions).count == versions.count, "plan versions \(versions)")
        for stream in streams { stream.stop() }
        let results = try await withTimeout(.seconds(60)) { await outcomes.value }
        #expect(results.count == 100)
        for result in results {
            #expect(result.failure == nil, "\(result)")
            #expect(result.sent == result.received)
            #expect(result.blocks > 0)
        }
        await serve.stop()
        await upstream.stop()
    }

    /// 50 clients drive the API as fast as they can while 100 connections stream
    /// through two of its proxies: no deadlock, every request answered, no byte lost.
    @Test func fiftyClientsAndAHundredStreams() async throws {
        let seconds = Int(ProcessInfo.processInfo.environment["FAULTLINE_SERVE_SOAK_SECONDS"] ?? "") ?? 30
        let upstream = try await TestServer.echo()
        let serve = try await ServeHarness.start()
        var listening: [Int] = []
        for name in ["one", "two"] {
            let made = try await serve.call("POST", "/proxies", body: #"{"name":"\#(name)","listen":"127.0.0.1:0","upstream":"127.0.0.1:\#(upstream.port)"}"#)
            listening.append(Traffic.port(of: try #require(made.json?["listen"]?.stringValue)))
        }
        let ports = listening
        let streams = (0..<100).map { EchoStream(port: ports[$0 % 2], seed: UInt8($0)) }
        let outcomes = Task {
            await withTaskGroup(of: EchoStream.Outcome.self) { group in
                for stream in streams { group.addTask { await stream.run(blockSize: 1024, pace: .milliseconds(20)) } }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
        let deadline = ContinuousClock.now + .seconds(seconds)
        let tally = Tally()
        try await withTimeout(.seconds(seconds + 90)) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<50 {
                    group.addTask {
                        let proxy = client % 2 == 0 ? "one" : "two"
                        var round = 0
                        while ContinuousClock.now < deadline {
                            let toxic = "t\(client)-\(round)"
                            let steps: [(String, String, String?, Set<Int>)] = [
                                ("GET", "/proxies", nil, [200]),
                                ("POST", "/proxies/\(proxy)/toxics", #"{"name":"\#(toxic)","type":"latency","toxicity":0.1,"attributes":{"latency":1}}"#, [200]),
                                ("PATCH", "/proxies/\(proxy)/toxics/\(toxic)", #"{"toxicity":0.2}"#, [200]),
                                ("GET", "/v1/proxies/\(proxy)", nil, [200]),
                                ("DELETE", "/proxies/\(proxy)/toxics/\(toxic)", nil, [204]),
                                ("POST", "/proxies", #"{"name":"c\#(client)","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}"#, [201]),
                                ("DELETE", "/proxies/c\(client)", nil, [204]),
                                ("GET", "/metrics", nil, [200]),
                                ("POST", "/proxies", "{bad", [400]),
                            ]
                            for (method, path, body, statuses) in steps {
                                // Spaced requests: 50 clients at about 10 requests a
                                // second each keep the API busy without starving the
                                // tests that run beside this one.
                                try await Task.sleep(for: .milliseconds(100))
                                let reply = try await serve.call(method, path, body: body)
                                tally.answered.add(1, ordering: .relaxed)
                                if !statuses.contains(reply.status) {
                                    tally.unexpected.withLock { $0.append("\(method) \(path): \(reply)") }
                                }
                            }
                            round += 1
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        for stream in streams { stream.stop() }
        let results = try await withTimeout(.seconds(60)) { await outcomes.value }
        let problems = tally.unexpected.withLock { $0 }
        #expect(problems.isEmpty, "\(problems.count) unexpected answers, first: \(problems.prefix(3))")
        #expect(tally.answered.load(ordering: .relaxed) >= 50 * 9, "every client finished at least one round")
        for result in results {
            #expect(result.failure == nil, "\(result)")
            #expect(result.sent == result.received)
        }
        let toxics = try await serve.call("GET", "/proxies")
        #expect(toxics.json?["one"]?["toxics"] == .array([]), "every toxic added was removed")
        #expect(toxics.json?["two"]?["toxics"] == .array([]), "every toxic added was removed")
        await serve.stop()
        await upstream.stop()
    }
}

/// What the API clients saw, shared between them.
final class Tally: Sendable {
    let answered = Atomic<Int>(0)
    let unexpected = Mutex<[String]>([])
}
