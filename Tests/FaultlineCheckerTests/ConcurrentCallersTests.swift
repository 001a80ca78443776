import FaultlineCore
import Testing

@testable import FaultlineChecker

/// Workers of one host polling the same URL, each on its own kept-alive connection, under
/// a fault that answers some polls 503 in the server's place. Each worker retries on its
/// own connection after a backoff. A trial with tenacity threads and aiohttp tasks got
/// CR-06 and CR-10 for it: one worker's poll, a few milliseconds after another's 503,
/// read as that 503's immediate retry.
struct ConcurrentCallersTests {
    static let ms: UInt64 = 1_000_000

    /// Eight workers start together, 1 ms apart, and poll 20 times each. About a third of
    /// the polls are answered 503; a worker then waits 50, 100, 200 ms (a little jitter),
    /// at most 4 attempts, on its own connection, and polls again 30 ms after a success.
    /// Their polls land within milliseconds of each other's 503s all the time.
    static func workers(retry: (Int, inout TestRandom) -> UInt64) -> ConnectionsLog {
        var log = ConnectionsLog(framing: "http", upstream: "127.0.0.1:8080")
        var random = TestRandom(seed: 7)
        // Each worker's next start time, stepped in turn so the log is built in time order
        // only at the end (the checker reads it sorted).
        for worker in 0..<8 {
            let conn = UInt64(worker)
            var time = 1_000 * Self.ms + conn * Self.ms
            log.open(conn, at: time - 500_000)
            for _ in 0..<20 {
                var attempt = 0
                while true {
                    let failed = attempt < 3 && random.unit() < 0.35
                    let end = log.poll(conn, at: time, status: failed ? 503 : 200)
                    if !failed { time = end + 30 * Self.ms; break }
                    attempt += 1
                    time = end + retry(attempt, &random)
                }
            }
            log.close(conn, at: time + 10 * Self.ms)
        }
        return log
    }

    @Test func workersRetryingOnTheirOwnConnectionsAreNotOneRequestRetriedAtOnce() throws {
        let log = Self.workers { attempt, random in
            (50 << UInt64(attempt - 1)) * Self.ms + UInt64(random.unit() * 10) * Self.ms
        }
        let report = try log.check()
        #expect(!report.findings.contains { ["CR-06", "CR-10", "CR-17"].contains($0.rule) }, "\(report.digest)")
        #expect(report.summary.retried > 20, "\(report.summary)")
        // Each worker's chain stays its own: never more than its 4 attempts.
        #expect(report.clients.allSatisfy { $0.maxAttempts <= 4 }, "\(report.clients)")
    }

    /// Eight callers on a warm pool (each connection used before, for another URL) fetch
    /// the same URL at once, in rounds; the server answers the first 6
    /// hits of a round 500. Each caller retries on its own connection after a full
    /// jitter backoff, at most 4 attempts (a trial: Node's Promise.all, Java threads).
    @Test(arguments: [(25_000, 2_000_000), (500_000, 300_000)] as [(UInt64, UInt64)])
    func callersFetchingOneURLAtOnceAreNotOneRequest(stagger: UInt64, latency: UInt64) throws {
        // In flight at once (2 ms answers, 25 µs apart), or one after another (answers in
        // 0.3 ms, 0.5 ms apart: each at once after another's 500, never overlapping).
        var log = ConnectionsLog(framing: "http", upstream: "127.0.0.1:8080")
        var random = TestRandom(seed: 5)
        var clock = 1_000 * Self.ms
        for conn in UInt64(0)..<8 {
            log.open(conn, at: clock)
            log.poll(conn, at: clock + conn * 10 * Self.ms, status: 200, path: "/warm")
        }
        clock += 200 * Self.ms
        for round in 0..<6 {
            var hits = 0
            // Each caller's next start; all begin within 0.2 ms.
            var next = (0..<8).map { clock + UInt64($0) * stagger }
            var attempts = Array(repeating: 0, count: 8)
            var done = Array(repeating: false, count: 8)
            while done.contains(false) {
                let caller = (0..<8).filter { !done[$0] }.min { next[$0] < next[$1] }!
                let status = hits < 6 ? 500 : 200
                hits += 1
                let end = log.poll(UInt64(caller), at: next[caller], status: status, path: "/fail/\(round)", latency: latency)
                attempts[caller] += 1
                if status == 200 || attempts[caller] == 4 {
                    done[caller] = true
                } else {
                    next[caller] = end + UInt64(random.unit() * Double(100 << attempts[caller])) * Self.ms
                }
            }
            clock = next.max()! + 1_000 * Self.ms
        }
        for conn in UInt64(0)..<8 { log.close(conn, at: clock) }
        let report = try log.check()
        #expect(!report.findings.contains { ["CR-06", "CR-10", "CR-17"].contains($0.rule) }, "\(report.digest)")
        #expect(report.clients.allSatisfy { $0.maxAttempts <= 4 }, "\(report.clients)")
    }

    /// An unkeyed POST whose reply was lost is retried at once on a spare connection the
    /// pool had opened earlier (undici does): still CR-01, never another caller's.
    @Test func anUnkeyedPostRetriedOnASpareConnectionIsStillCR01() throws {
        var log = ConnectionsLog(framing: "http", upstream: "127.0.0.1:8080")
        log.open(0, at: 1_000 * Self.ms)
        log.open(1, at: 1_000 * Self.ms)
        log.poll(0, at: 1_100 * Self.ms, status: nil, method: "POST", path: "/orders")
        log.close(0, at: 1_900 * Self.ms, unanswered: 0)
        log.poll(1, at: 1_901 * Self.ms, status: 201, method: "POST", path: "/orders")
        log.close(1, at: 2_000 * Self.ms)
        let report = try log.check()
        #expect(report.findings.contains { $0.rule == "CR-01" }, "\(report.digest)")
    }

    /// The same workers retrying 1 ms after each 503 on their own connections are still
    /// immediate retries.
    @Test func workersRetryingAtOnceOnTheirOwnConnectionsAreStillFlagged() throws {
        let log = Self.workers { _, _ in Self.ms }
        let report = try log.check()
        #expect(report.findings.contains { $0.rule == "CR-06" }, "\(report.digest)")
    }
}

extension ConnectionsLog {
    /// A request on `conn` at `start` (a GET of /ok unless said), answered `status`
    /// (503: by the proxy's `respond`; nil: never) 2 ms later; returns when its answer
    /// came.
    @discardableResult
    mutating func poll(
        _ conn: UInt64, at start: UInt64, status: Int?, method: String = "GET", path: String = "/ok", latency: UInt64 = 2 * ConcurrentCallersTests.ms
    ) -> UInt64 {
        let unit = self.nextUnit(on: conn)
        var request = self.event(.message, conn, at: start + 100_000)
        (request.direction, request.unit, request.firstMono, request.bytes) = (.upstream, unit, start, 80)
        (request.method, request.path, request.fingerprint) = (method, path, "fp-\(method)-\(path)")
        self.append(request)
        let end = start + latency
        guard let status else { return end }
        if status == 503 {
            var fault = self.event(.fault, conn, at: end)
            (fault.direction, fault.unit, fault.rule, fault.kind, fault.action) = (.upstream, unit, "some-503", "respond", "respond")
            fault.params = ["status": "503", "attempt": "0"]
            self.append(fault)
        } else {
            var reply = self.event(.message, conn, at: end)
            (reply.direction, reply.unit, reply.bytes, reply.status) = (.downstream, unit, 60, status)
            (reply.requestUnit, reply.requestMono) = (unit, start)
            self.append(reply)
        }
        return end
    }
}
