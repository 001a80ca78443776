import FaultlineCore
import Testing

@testable import FaultlineChecker

/// Careful clients from a trial with Go and Ruby clients that the checker called careless,
/// rebuilt as synthetic logs of the same shape, each next to the careless client it must
/// still catch: a poller outgrowing 404s, a call that gave up followed by the next call,
/// callers sharing one pool, a caller that moved on to its next round of work, and a
/// request the client repeats on purpose at its own cadence.
struct RepeatsAndPollsTests {
    static let ms: UInt64 = 1_000_000
    static let s: UInt64 = 1_000_000_000

    // MARK: Polling

    /// Four workers on one kept-alive pool each poll their jobs' URLs every 300 ms until
    /// the server answers 200; it answers 404 "not ready" three times first. The workers'
    /// connections are handed around as Go's pool does.
    static func pollers(every: UInt64, readyAfter: Int?, polls: Int = 10, handedAround: Bool = true) -> ConnectionsLog {
        var log = ConnectionsLog(framing: "http", upstream: "127.0.0.1:8080")
        for conn in UInt64(0)..<4 { log.open(conn, at: 1_000 * Self.ms) }
        for worker in 0..<4 {
            var time = 1_000 * Self.ms + UInt64(worker) * Self.ms
            for job in 0..<5 {
                for poll in 0..<polls {
                    let ready = readyAfter.map { poll >= $0 } ?? false
                    let conn = UInt64(handedAround ? (worker + poll + job) % 4 : worker)
                    let end = log.poll(conn, at: time, status: ready ? 200 : 404, path: "/jobs/\(worker)-\(job)", latency: Self.ms)
                    time = end + every
                    if ready { break }
                }
            }
        }
        for conn in UInt64(0)..<4 { log.close(conn, at: 100 * Self.s) }
        return log
    }

    @Test func aPollerOutgrowingItsNotFoundsIsNotRetrying() throws {
        let report = try Self.pollers(every: 300 * Self.ms, readyAfter: 3).check()
        #expect(!report.findings.contains { $0.severity >= .low }, "\(report.digest)")
        #expect(report.status("CR-14") != .failed, "\(report.digest)")
    }

    /// A client hammering a 404 that never turns into a success is still CR-14.
    @Test func hammeringAPermanentNotFoundIsStillCR14() throws {
        let report = try Self.pollers(every: 300 * Self.ms, readyAfter: nil, polls: 4).check()
        #expect(report.findings.contains { $0.rule == "CR-14" }, "\(report.digest)")
    }

    /// Re-sent at once after the 404 (under `min_gap`) on the worker's connection:
    /// hammering, even if it ends in a 200.
    @Test func aNotFoundResentAtOnceIsStillCR14() throws {
        let report = try Self.pollers(every: 2 * Self.ms, readyAfter: 3, handedAround: false).check()
        #expect(report.findings.contains { $0.rule == "CR-14" }, "\(report.digest)")
    }

    /// A failure a fault injects between two polls stays in its poll's logical request:
    /// its retry is judged on backoff (here at once, twice per request: CR-06).
    @Test func anInjectedFailureBetweenPollsIsStillARetry() throws {
        var log = ConnectionsLog(framing: "http", upstream: "127.0.0.1:8080")
        log.open(0, at: 999 * Self.ms)
        var time = 1_000 * Self.ms
        for job in 0..<12 {
            let path = "/jobs/\(job)"
            time = log.poll(0, at: time, status: 404, path: path, latency: Self.ms) + 300 * Self.ms
            for _ in 0..<3 { time = log.poll(0, at: time, status: 503, path: path) + Self.ms }
            time = log.poll(0, at: time, status: 200, path: path, latency: Self.ms) + 300 * Self.ms
        }
        log.close(0, at: time)
        let report = try log.check()
        #expect(report.findings.contains { $0.rule == "CR-06" }, "\(report.digest)")
        #expect(!report.findings.contains { $0.rule == "CR-14" }, "\(report.digest)")
        #expect(report.summary.retried == 12, "\(report.summary)")
    }

    // MARK: A call that gave up, then the next call

    /// go-retryablehttp with a pool of its own per worker: 4 attempts on the kept-alive
    /// connection (503s, 50–400 ms apart), then it gives up and closes its idle
    /// connections; the worker's next call goes out 1 ms later on a new connection.
    @Test func theNextCallAfterAGiveUpIsNotAFifthAttempt() throws {
        var log = ConnectionsLog(framing: "http", upstream: "127.0.0.1:8080")
        var time = 1_000 * Self.ms
        var conn: UInt64 = 0
        for _ in 0..<6 {
            log.open(conn, at: time - Self.ms)
            var end = time
            for wait in [60, 120, 250] as [UInt64] {
                end = log.poll(conn, at: time, status: 503, path: "/items/shared")
                time = end + wait * Self.ms
            }
            end = log.poll(conn, at: time, status: 503, path: "/items/shared")
            log.close(conn, at: end + 300_000)
            conn += 1
            time = end + Self.ms
        }
        log.open(conn, at: time - 200_000)
        log.poll(conn, at: time, status: 200, path: "/items/shared")
        log.close(conn, at: time + Self.s)
        let report = try log.check()
        #expect(!report.findings.contains { $0.rule == "CR-10" || $0.rule == "CR-06" }, "\(report.digest)")
        #expect(report.clients.allSatisfy { $0.maxAttempts <= 4 }, "\(report.clients)")
    }

    /// A client that opens a connection for every attempt retries on a new connection
    /// after each failure: that is still one logical request (CR-10 at 7 attempts).
    @Test func aRetryOnANewConnectionStillGroups() throws {
        var log = ConnectionsLog(framing: "http", upstream: "127.0.0.1:8080")
        var time = 1_000 * Self.ms
        for conn in UInt64(0)..<7 {
            log.open(conn, at: time - 200_000)
            let end = log.poll(conn, at: time, status: 503, path: "/items/1")
            log.close(conn, at: end + 100_000)
            time = end + 100 * Self.ms
        }
        let report = try log.check()
        #expect(report.findings.contains { $0.rule == "CR-10" }, "\(report.digest)")
    }

    // MARK: Callers sharing one pool

    /// Eight workers share a pool of connections (the most recently freed first, as Go's
    /// and redigo's do) and poll the same URL; a third of the polls are answered 503 and a
    /// worker then waits 50–100 ms, doubling, at most 4 attempts. The connection a 503
    /// came back on is often taken at once by another worker.
    static func sharedPool(retryAfter: (Int, inout TestRandom) -> UInt64) -> ConnectionsLog {
        var log = ConnectionsLog(framing: "http", upstream: "127.0.0.1:8080")
        var random = TestRandom(seed: 11)
        var idle: [UInt64] = []
        var opened: UInt64 = 0
        // Each worker: next start, attempt number in its call, calls left.
        var next = (0..<8).map { 1_000 * Self.ms + UInt64($0) * 300_000 }
        var attempt = Array(repeating: 0, count: 8)
        var calls = Array(repeating: 25, count: 8)
        var busyUntil: [(conn: UInt64, free: UInt64)] = []
        while let worker = (0..<8).filter({ calls[$0] > 0 }).min(by: { next[$0] < next[$1] }) {
            let start = next[worker]
            // Connections whose request ended by now go back to the idle list, newest last.
            for item in busyUntil.filter({ $0.free <= start }).sorted(by: { $0.free < $1.free }) { idle.append(item.conn) }
            busyUntil.removeAll { $0.free <= start }
            let conn: UInt64
            if let last = idle.popLast() {
                conn = last
            } else {
                conn = opened
                opened += 1
                log.open(conn, at: start - 200_000)
            }
            let failed = attempt[worker] < 3 && random.unit() < 0.35
            let end = log.poll(conn, at: start, status: failed ? 503 : 200, path: "/items/shared", latency: failed ? 150_000 : 40 * Self.ms)
            busyUntil.append((conn, end + 50_000))
            if failed {
                attempt[worker] += 1
                next[worker] = end + retryAfter(attempt[worker], &random)
            } else {
                attempt[worker] = 0
                calls[worker] -= 1
                next[worker] = end + 200_000
            }
        }
        for conn in 0..<opened { log.close(conn, at: 1_000 * Self.s) }
        return log
    }

    @Test func callersSharingAPoolAreNotOneRequestRetriedAtOnce() throws {
        let report = try Self.sharedPool { attempt, random in
            UInt64(Double(50 << UInt64(attempt - 1)) * (1 + random.unit())) * Self.ms
        }.check()
        #expect(!report.findings.contains { $0.rule == "CR-06" }, "\(report.digest)")
        #expect(report.summary.retried > 20, "\(report.summary)")
    }

    // MARK: A caller that moved on

    /// One connection per thread (redis-rb): each thread sends SET k:i, GET k:i-1 and
    /// INCR ctr:thread in turn; a fault answers some commands LOADING. The careful
    /// client does not retry it (redis-rb does not retry LOADING): its next INCR comes
    /// after its next SET and GET. The careless one re-sends the INCR at once, first.
    static func counters(resendAtOnce: Bool) -> ConnectionsLog {
        var log = ConnectionsLog(framing: "resp", upstream: "127.0.0.1:6379")
        var random = TestRandom(seed: 3)
        for thread in UInt64(0)..<4 {
            log.open(thread, at: 1_000 * Self.ms)
            var time = 1_000 * Self.ms + thread * 100_000
            for i in 0..<60 {
                let (command, fingerprint): (String, String) =
                    switch i % 3 {
                    case 0: ("SET", "set-\(thread)-\(i)")
                    case 1: ("GET", "get-\(thread)-\(i)")
                    default: ("INCR", "incr-\(thread)")
                    }
                var loading = random.unit() < 0.4
                time = log.send(thread, command, fingerprint, at: time, loading: loading) + 200_000
                while resendAtOnce, command == "INCR", loading {
                    loading = random.unit() < 0.4
                    time = log.send(thread, command, fingerprint, at: time, loading: loading) + 200_000
                }
            }
            log.close(thread, at: 100 * Self.s)
        }
        return log
    }

    @Test func aCallerThatMovedOnIsNotRetrying() throws {
        let report = try Self.counters(resendAtOnce: false).check()
        #expect(!report.findings.contains { $0.severity >= .low }, "\(report.digest)")
    }

    @Test func aCommandResentFirstAtOnceIsStillARetry() throws {
        let report = try Self.counters(resendAtOnce: true).check()
        #expect(report.findings.contains { $0.rule == "CR-06" }, "\(report.digest)")
    }

    /// redigo workers (a pool, a connection per command) cycle SET, GET, INCR and never
    /// re-send an INCR; a crash resets connections. After its INCR is reset a worker
    /// goes on: SET, GET (reset too, retried 50 ms later on a new connection), then its
    /// next INCR on that connection. The careless worker re-sends the INCR first, at once.
    static func pooledCounter(resendFirst: Bool) -> ConnectionsLog {
        var log = ConnectionsLog(framing: "resp", upstream: "127.0.0.1:6379")
        var conn: UInt64 = 0
        var time = 1_000 * Self.ms
        func fresh(_ log: inout ConnectionsLog) -> UInt64 {
            conn += 1
            log.open(conn, at: time)
            time += 100_000
            return conn
        }
        for round in 0..<8 {
            let c = fresh(&log)
            time = log.send(c, "SET", "set-\(round)", at: time, loading: false) + 100_000
            time = log.send(c, "GET", "get-\(round)", at: time, loading: false) + 100_000
            time = log.sendAndReset(c, "INCR", "incr-ctr", at: time) + 200_000
            if resendFirst {
                let d = fresh(&log)
                time = log.send(d, "INCR", "incr-ctr", at: time, loading: false) + 100_000
                log.close(d, at: time)
            } else {
                let d = fresh(&log)
                time = log.send(d, "SET", "set-\(round)-b", at: time, loading: false) + 100_000
                time = log.sendAndReset(d, "GET", "get-\(round)-b", at: time) + 50 * Self.ms
                let e = fresh(&log)
                time = log.send(e, "GET", "get-\(round)-b", at: time, loading: false) + 100_000
                time = log.send(e, "INCR", "incr-ctr", at: time, loading: false) + 100_000
                log.close(e, at: time)
            }
            time += 300 * Self.ms
        }
        return log
    }

    @Test func aPooledWorkersNextRoundAfterAResetIsNotAnUnsafeRetry() throws {
        let report = try Self.pooledCounter(resendFirst: false).check()
        #expect(!report.findings.contains { $0.rule == "CR-01" && $0.severity >= .low }, "\(report.digest)")
    }

    @Test func anIncrResentFirstAfterAResetIsStillCR01() throws {
        let report = try Self.pooledCounter(resendFirst: true).check()
        #expect(report.findings.filter { $0.rule == "CR-01" && $0.severity == .high }.count == 8, "\(report.digest)")
    }

    // MARK: A request repeated on purpose

    /// redis-rb with reconnect_attempts 0 sends INCR once a second; the first reply is
    /// lost and the client gives up after 0.5 s. The next second's INCR is a new
    /// operation: the client sends it after every success too, a second apart.
    static func counter(resendAfter: UInt64?) -> SyntheticLog {
        var log = SyntheticLog(framing: "resp")
        let incr = SyntheticLog.Request(method: "", path: "", fingerprint: "fp-incr", command: "INCR")
        var time = 1_000 * Self.s
        let lost = log.attempt(incr, at: time, .replyLost(timeout: 500 * Self.ms))
        time = resendAfter.map { lost + $0 } ?? (time + Self.s + 500 * Self.ms)
        for _ in 0..<6 {
            let end = log.attempt(incr, at: time, .answered(status: 200, latency: 300_000))
            time = end + Self.s
        }
        return log
    }

    @Test func aRequestRepeatedAtItsCadenceIsNotAnUnsafeRetry() throws {
        let report = try Self.counter(resendAfter: nil).check()
        let cr01 = report.findings.filter { $0.rule == "CR-01" }
        #expect(cr01.count == 1 && cr01.allSatisfy { $0.severity == .info }, "\(report.digest)")
        #expect(cr01.first?.message.contains("Most likely not a retry") == true, "\(report.digest)")
        #expect(!report.findings.contains { $0.severity >= .low }, "\(report.digest)")
    }

    /// The same counter re-sent at once after the lost reply: CR-01 HIGH, and its fix does
    /// not ask a RESP client for an Idempotency-Key it cannot send.
    @Test func aRequestResentAtOnceAfterALostReplyIsStillCR01() throws {
        let report = try Self.counter(resendAfter: 2 * Self.ms).check()
        let cr01 = try #require(report.findings.first { $0.rule == "CR-01" }, "\(report.digest)")
        #expect(cr01.severity == .high, "\(report.digest)")
        #expect(!cr01.fix.contains("Idempotency-Key") && cr01.fix.contains("no idempotency key"), "\(cr01.fix)")
    }

    /// Re-sent sooner than the client's cadence (half a second after the failure, where it
    /// waits a second after successes): a retry, CR-01 HIGH.
    @Test func aRequestResentSoonerThanItsCadenceIsStillCR01() throws {
        let report = try Self.counter(resendAfter: 400 * Self.ms).check()
        #expect(report.findings.contains { $0.rule == "CR-01" && $0.severity == .high }, "\(report.digest)")
    }

    /// Three independent POSTs 200 ms apart; the first one's reply is lost and the client
    /// gives up after 1 s, then sends the next one 200 ms later, as after a success.
    @Test func independentPostsAfterALostReplyAreNotAnUnsafeRetry() throws {
        var log = SyntheticLog()
        let post = SyntheticLog.Request(method: "POST", path: "/login", fingerprint: "fp-login")
        var time = log.attempt(post, at: 1_000 * Self.s, .replyLost(timeout: Self.s)) + 200 * Self.ms
        for _ in 0..<2 { time = log.attempt(post, at: time, .answered(status: 201)) + 200 * Self.ms }
        let report = try log.check()
        #expect(!report.findings.contains { $0.severity >= .low }, "\(report.digest)")
        #expect(report.findings.contains { $0.rule == "CR-01" && $0.severity == .info }, "\(report.digest)")
        // HTTP can carry a key: the fix still says so.
        #expect(report.findings.first { $0.rule == "CR-01" }?.fix.contains("Idempotency-Key") == true, "\(report.digest)")
    }
}

/// RESP commands on kept-open connections, each command and its reply in turn.
extension ConnectionsLog {
    /// A command on `conn` at `start`, answered 150 µs later by the server, or by the
    /// proxy in its place with a LOADING error; returns when the answer came.
    mutating func send(_ conn: UInt64, _ command: String, _ fingerprint: String, at start: UInt64, loading: Bool) -> UInt64 {
        let (unit, end) = self.command(conn, command, fingerprint, at: start)
        if loading {
            var fault = self.event(.fault, conn, at: end)
            (fault.direction, fault.unit, fault.rule, fault.kind, fault.action) = (.upstream, unit, "loading", "respond", "respond")
            fault.params = ["attempt": "0"]
            self.append(fault)
        } else {
            var reply = self.event(.message, conn, at: end)
            (reply.direction, reply.unit, reply.bytes) = (.downstream, unit, 5)
            (reply.requestUnit, reply.requestMono) = (unit, start)
            self.append(reply)
        }
        return end
    }

    /// The command itself, sent at `start`: its unit, and when its answer comes (150 µs).
    private mutating func command(_ conn: UInt64, _ command: String, _ fingerprint: String, at start: UInt64) -> (UInt64, UInt64) {
        let unit = self.nextUnit(on: conn)
        var request = self.event(.message, conn, at: start + 20_000)
        (request.direction, request.unit, request.firstMono, request.bytes) = (.upstream, unit, start, 40)
        (request.command, request.fingerprint) = (command, fingerprint)
        self.append(request)
        return (unit, start + 150_000)
    }

    /// A command on `conn` whose connection a fault resets when the reply starts (the
    /// server ran it); returns when the client saw the reset.
    mutating func sendAndReset(_ conn: UInt64, _ command: String, _ fingerprint: String, at start: UInt64) -> UInt64 {
        let (unit, end) = self.command(conn, command, fingerprint, at: start)
        var fault = self.event(.fault, conn, at: end)
        (fault.direction, fault.unit, fault.rule, fault.kind, fault.action) = (.downstream, unit, "crash", "sever", "reset")
        fault.params = ["at": "first_reply_byte", "request_unit": "\(unit)", "attempt": "0"]
        self.append(fault)
        var close = self.event(.connectionClose, conn, at: end)
        (close.firstCloseMono, close.closedBy, close.reason, close.unansweredUnit) = (end, "proxy", "client_reset", unit)
        self.append(close)
        return end
    }
}
