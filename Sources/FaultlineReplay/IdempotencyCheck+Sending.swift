import FaultlineChecker
import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import Logging
import NIOCore

/// One request replay sent (or, in a dry run, would have sent) and what came of it.
struct SentRequest {
    var step: String
    var bytes: [UInt8]
    var reply: ReplayReply?
    /// Why there is no reply: `no reply within 5s`, `not sent (dry run)`.
    var failure: String?

    var evidence: CheckReport.ExchangeEvidence {
        CheckReport.ExchangeEvidence(
            step: self.step,
            request: ByteText.describe(self.bytes),
            reply: self.reply.map { ByteText.describe($0.bytes) } ?? (self.failure ?? "no reply"),
            status: self.reply?.status
        )
    }

    /// `SR-01 #2: POST /accounts/1/deposits HTTP/1.1 → 201 {"id":7,...}`.
    var line: String {
        let answer: String
        if let reply {
            let first = reply.status.map(String.init) ?? ByteText.firstLine(reply.bytes)
            let body = reply.status != nil ? ByteText.firstLine(reply.body) : ""
            answer = body.isEmpty ? first : "\(first) \(body)"
        } else {
            answer = self.failure ?? "no reply"
        }
        return "\(self.step): \(ByteText.firstLine(self.bytes)) → \(answer)"
    }
}

/// The target stopped answering: the run ends with what was found.
struct TargetStopped: Error {
    var reason: String
}

extension IdempotencyCheck {
    /// Sends `bytes` to the target on a new connection and waits for the reply; a
    /// `probe` read is counted apart from the replayed requests.
    func send(_ bytes: [UInt8], step: String, probe: Bool = false) async throws -> SentRequest {
        if self.options.dryRun {
            self.plan("# \(step) → \(self.target)\n\(ByteText.describe(bytes, limit: 65_536))")
            return SentRequest(step: step, bytes: bytes, failure: "not sent (dry run)")
        }
        let result = await ReplayConnection.exchange(bytes, to: self.target, wire: self.wire, timeout: self.options.timeout, group: self.group)
        if case .failure(let failure) = result, failure.kind == .connect {
            // No connection, so nothing was sent.
            throw self.stop(step: step, failure: failure)
        }
        self.countSent(1, probe: probe)
        switch result {
        case .success(let reply):
            self.received(reply, probe: probe)
            return SentRequest(step: step, bytes: bytes, reply: reply)
        case .failure(let failure):
            self.counted.unanswered += 1
            throw self.stop(step: step, failure: failure)
        }
    }

    /// Counts requests written to a connection: replayed ones or probe reads.
    private func countSent(_ count: Int, probe: Bool = false) {
        if probe {
            self.counted.probeRequests += count
        } else {
            self.counted.requestsSent += count
        }
    }

    /// Counts a reply, and keeps its note (a body compared as received) for the
    /// evidence of the rule that reads it.
    private func received(_ reply: ReplayReply, probe: Bool = false) {
        self.counted.repliesReceived += 1
        if !probe { self.replayedAnswered += 1 }
        if let note = reply.note, !self.bodyNotes.contains(note) { self.bodyNotes.append(note) }
    }

    /// The notes kept since the last call (`received`), for one rule's evidence.
    func takeBodyNotes() -> [String] {
        defer { self.bodyNotes = [] }
        return self.bodyNotes
    }

    /// Marks the run stopped and says so on standard error.
    func stop(step: String, failure: ReplayFailure) -> TargetStopped {
        let reason = "\(step): \(failure.description)"
        if failure.kind == .timedOut {
            self.progress("faultline: timeout: \(step) to \(self.target): \(failure.description); ending the run with what was found")
        } else {
            self.progress("faultline: \(step) to \(self.target): \(failure.description); ending the run with what was found")
        }
        self.stopped = reason
        return TargetStopped(reason: reason)
    }

    /// Reads every probe; nil without probes or in a dry run.
    func probe(_ when: String) async throws -> StateSnapshot? {
        guard !self.probes.isEmpty else { return nil }
        var readings: [ReplyView] = []
        for probe in self.probes {
            let sent = try await self.send(probe.bytes, step: "probe \(when)", probe: true)
            guard let reply = sent.reply else { return nil }
            readings.append(ReplyView(reply, wire: self.wire, ignoring: self.options.ignorePaths))
        }
        return StateSnapshot(readings: readings)
    }

    /// Sends `bytes` on `count` connections at once: every connection gets all but the
    /// last byte, then every last byte goes out together (HTTP/1.1 last-byte sync), so
    /// the requests reach the service within a moment of each other.
    func race(_ bytes: [UInt8], count: Int, step: String) async throws -> [SentRequest] {
        let steps = (1...count).map { "\(step) conn \($0)/\(count)" }
        if self.options.dryRun {
            for name in steps {
                self.plan("# \(name) → \(self.target) (all but the last byte first, then every last byte together)\n\(ByteText.describe(bytes, limit: 65_536))")
            }
            return steps.map { SentRequest(step: $0, bytes: bytes, failure: "not sent (dry run)") }
        }
        var open: [ReplayConnection] = []
        defer {
            let channels = open.map(\.channel)
            for channel in channels { channel.close(promise: nil) }
        }
        for name in steps {
            do {
                open.append(try await ReplayConnection.open(to: self.target, wire: self.wire, request: bytes, timeout: self.options.timeout, group: self.group))
            } catch let failure as ReplayFailure {
                throw self.stop(step: name, failure: failure)
            }
        }
        let head = bytes.dropLast()
        let tail = bytes.suffix(1)
        // A connection whose writing began carries its request, whole or cut by a close.
        var writing = 0
        do {
            for connection in open {
                writing += 1
                try await connection.write(head)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for connection in open { group.addTask { try await connection.write(tail) } }
                try await group.waitForAll()
            }
        } catch {
            self.countSent(writing)
            self.counted.unanswered += writing
            throw self.stop(step: step, failure: ReplayFailure(kind: .closed, description: "the connection closed while sending: \(error)"))
        }
        self.countSent(count)
        let connections = open
        let results = await withTaskGroup(of: (Int, Result<ReplayReply, ReplayFailure>).self) { group in
            for (index, connection) in connections.enumerated() {
                group.addTask { (index, await connection.awaitReply()) }
            }
            var results = [Result<ReplayReply, ReplayFailure>?](repeating: nil, count: connections.count)
            for await (index, result) in group { results[index] = result }
            return results.compactMap { $0 }
        }
        var sent: [SentRequest] = []
        var firstFailure: (step: String, failure: ReplayFailure)?
        for (name, result) in zip(steps, results) {
            switch result {
            case .success(let reply):
                self.received(reply)
                sent.append(SentRequest(step: name, bytes: bytes, reply: reply))
            case .failure(let failure):
                self.counted.unanswered += 1
                if firstFailure == nil { firstFailure = (name, failure) }
            }
        }
        if let firstFailure { throw self.stop(step: firstFailure.step, failure: firstFailure.failure) }
        return sent
    }

    /// The profile of SR-05's proxy: the reply to the first attempt of every request is
    /// dropped on its way back (the shipped `reply-lost` profile's rule).
    static let replyLostProfile = """
        faultline: 1
        name: replay-reply-lost
        description: The reply to a request's first attempt is dropped on its way back.
        rules:
          - name: lose-first-reply
            match:
              direction: downstream
              attempt: {first: 1}
            fault:
              kind: drop
        """

    /// Sends `bytes` through a proxy of replay's own in front of the target that drops
    /// the reply, and returns the reply the proxy dropped (nil when the target did not
    /// answer in time). The client gives up the moment the proxy reports the drop, as
    /// one with a timeout would after waiting it out.
    func sendLosingReply(_ bytes: [UInt8], step: String) async throws -> SentRequest {
        if self.options.dryRun {
            self.plan("# \(step) → \(self.target) through a local proxy that drops the reply\n\(ByteText.describe(bytes, limit: 65_536))")
            return SentRequest(step: step, bytes: bytes, failure: "not sent (dry run)")
        }
        let profile = try ProfileLoader().load(text: Self.replyLostProfile, file: "replay-reply-lost")
        let kind: FramingConfiguration.Kind
        switch self.wire {
        case .http: kind = .http
        case .resp: kind = .resp
        case .line: kind = .line
        }
        let watch = DropWatch()
        let proxy = TCPProxy(
            configuration: TCPProxyConfiguration(
                name: "replay",
                listen: HostPort(host: "127.0.0.1", port: 0),
                upstream: self.target,
                connectTimeout: .seconds(5),
                faults: FaultPlan(profile: profile, seed: 1),
                framing: FramingConfiguration(kind: kind, recordPayloads: true)
            ),
            group: self.group,
            events: watch,
            logger: Logger(label: "faultline.replay", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let address = try await proxy.start()
        defer { watch.finish() }
        let via = HostPort(host: "127.0.0.1", port: address.port ?? 0)
        let connection: ReplayConnection
        do {
            connection = try await ReplayConnection.open(to: via, wire: self.wire, request: bytes, timeout: self.options.timeout, group: self.group)
        } catch {
            await proxy.shutdown(grace: .zero)
            throw self.stop(step: step, failure: ReplayFailure(kind: .connect, description: "through replay's proxy: \(error)"))
        }
        self.countSent(1)
        do {
            try await connection.write(bytes[...])
        } catch {
            await connection.close()
            await proxy.shutdown(grace: .zero)
            self.counted.unanswered += 1
            throw self.stop(step: step, failure: ReplayFailure(kind: .closed, description: "through replay's proxy: the connection closed while sending: \(error)"))
        }
        let dropped = await watch.droppedReply(within: self.options.timeout)
        await connection.close()
        let leaked = await connection.awaitReply()
        await proxy.shutdown(grace: .zero)
        if case .success(let reply) = leaked {
            self.received(reply)
            return SentRequest(step: step, bytes: bytes, reply: reply, failure: "the proxy did not drop the reply")
        }
        guard let dropped else {
            self.counted.unanswered += 1
            throw self.stop(
                step: step,
                failure: ReplayFailure(kind: .timedOut, description: "no reply within \(DurationText.format(self.options.timeout))")
            )
        }
        self.counted.repliesDropped += 1
        self.replayedAnswered += 1
        self.progress("faultline: \(step): the proxy dropped the reply as planned; the client gave up on it")
        // The dropped reply, framed again so the retry's answer can be compared with it.
        let reply = Self.parseReply(dropped, request: bytes, wire: self.wire)
        if let note = reply?.note, !self.bodyNotes.contains(note) { self.bodyNotes.append(note) }
        return SentRequest(step: step, bytes: bytes, reply: reply, failure: "reply dropped by the proxy")
    }

    /// Frames recorded reply bytes as `ReplayConnection` frames live ones.
    static func parseReply(_ bytes: [UInt8], request: [UInt8], wire: ReplayProtocol) -> ReplayReply? {
        guard !bytes.isEmpty else { return nil }
        var buffer = ByteBuffer(bytes: bytes)
        switch wire {
        case .http:
            var (requests, responses) = HTTPFramer.pair()
            var requestBuffer = ByteBuffer(bytes: request)
            if case .message(_, let info) = requests.decode(buffer: &requestBuffer) { requests.requestForwarded(info) }
            guard case .message(_, let info) = responses.decode(buffer: &buffer) else { return nil }
            return ReplayReply.http(bytes, status: info.status, headers: info.headers)
        case .resp, .line:
            return ReplayReply(bytes: bytes, status: nil, headers: [], body: bytes)
        }
    }
}
