import ArgumentParser
import FaultlineCore
import FaultlineFraming
import FaultlineHost
import FaultlineProxy
import FaultlineRecords
import FaultlineReplay
import FaultlineChecker
import Foundation
import Logging
import NIOCore
import NIOPosix

/// `faultline demo`: the pipeline on embedded services, with nothing to set up.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show faultline at work on embedded sample services.",
        discussion: """
            Three acts, on free loopback ports, with nothing to set up and no network. \
            1, passthrough: an echo service behind the proxy; every reply is checked \
            byte for byte. 2, a lost reply: a small ledger service (one 'deposit N' per \
            line) behind the proxy with the reply-lost profile and line framing. A \
            client with a one-second deadline deposits 10, hears nothing, and retries \
            as a naive client does: the ledger applies the deposit twice. The event \
            log and packet capture of the second act are kept (--output) and the log \
            is summarised. 3, the checker: the ledger over HTTP behind reply-lost and \
            duplicate-delivery; a naive client (no idempotency key, immediate retry) \
            against the naive ledger, then a careful one (a key per deposit, backoff \
            with jitter) against the ledger in its deduplicating mode. 'check retries' \
            names the naive client's unsafe retry and passes the careful one; the \
            books show the double deposits and their absence; the HTML reports are \
            kept in --output. 'check idempotency' then replays each recorded deposit \
            against its ledger, reading GET /balance around every experiment: the \
            naive ledger is at-least-once, the deduplicating one deduplicated by key. \
            Exits 0 when every act went as described, 3 otherwise.
            """
    )

    @Option(
        help: ArgumentHelp(
            "Keep the second act's event log (demo.jsonl) and capture (demo.pcap) here; default: a new temporary directory.",
            valueName: "dir"
        )
    )
    var output: String?

    /// How long the demo's client waits for an answer before it calls the outcome
    /// unknown (the output says "one second").
    static let deadline = TimeAmount.seconds(1)
    static let quiet = Logger(label: "faultline.demo", factory: { _ in SwiftLogNoOpLogHandler() })

    func run() async throws {
        let directory = try self.outputDirectory()
        let group = MultiThreadedEventLoopGroup.singleton
        Output.line("1. Passthrough")
        let exact = try await Self.passthrough(group: group)
        Output.line("")
        Output.line("2. A lost reply")
        let lost = try await Self.lostReply(group: group, directory: directory)
        Output.line("")
        Output.line("3. The checker")
        let checked = try await Self.checker(group: group, directory: directory)
        Output.line("")
        let all = exact && lost && checked
        Output.line(all ? "demo finished: all three acts went as described" : "demo finished: something went differently (see above)")
        if !all { throw ExitCode(ExitStatus.runtime) }
    }

    private func outputDirectory() throws -> URL {
        let url =
            self.output.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("faultline-demo-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw InvalidInputError("--output \(url.path): cannot create the directory")
        }
        return url
    }

    /// Act 1: messages through a plain proxy come back byte for byte.
    private static func passthrough(group: any EventLoopGroup) async throws -> Bool {
        let service = try await EchoService.start(group: group)
        let upstream = HostPort(host: "127.0.0.1", port: service.address.port ?? 0)
        let proxy = TCPProxy(
            configuration: TCPProxyConfiguration(name: "demo", listen: HostPort(host: "127.0.0.1", port: 0), upstream: upstream),
            group: group,
            logger: Self.quiet
        )
        let bound = try await proxy.start()
        Output.line("   echo service on \(upstream); proxy on \(bound.hostPortText), no profile")
        let client = try await ClientBootstrap(group: group)
            .connect(to: bound) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let messages = ["hello through faultline", "a second message", "bytes arrive exactly as sent"]
        var allEqual = true
        try await client.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()
            for message in messages {
                try await outbound.write(ByteBuffer(string: message + "\n"))
                var received = ByteBuffer()
                while received.readableBytes < message.utf8.count + 1, var chunk = try await replies.next() {
                    received.writeBuffer(&chunk)
                }
                let reply = String(String(buffer: received).dropLast())
                let same = reply + "\n" == String(buffer: received) && reply == message
                allEqual = allEqual && same
                Output.line("   sent \"\(message)\"  ->  got \"\(reply)\"  \(same ? "(byte-exact)" : "(MISMATCH)")")
            }
        }
        await proxy.shutdown(grace: .seconds(1))
        await service.stop()
        Output.line(allEqual ? "   every reply matched" : "   replies differed")
        return allEqual
    }

    /// Act 2: the reply-lost profile makes a naive retry pay twice.
    private static func lostReply(group: any EventLoopGroup, directory: URL) async throws -> Bool {
        let ledger = try await LedgerService.start(group: group)
        let upstream = HostPort(host: "127.0.0.1", port: ledger.address.port ?? 0)
        let profile = try ProfileLoader.fromEnvironment().load("reply-lost")
        let log = directory.appendingPathComponent("demo.jsonl").path
        let pcap = directory.appendingPathComponent("demo.pcap").path
        let proxy = try await ProxyHost.start(
            ProxySpec(
                name: "demo",
                listen: HostPort(host: "127.0.0.1", port: 0),
                upstream: upstream,
                profile: profile,
                seed: 1,
                framing: FramingConfiguration(kind: .line),
                records: ProxyRecords.Paths(log: log, pcap: pcap)
            ),
            group: group,
            logger: Self.quiet
        )
        let bound = try SocketAddress(ipAddress: proxy.address.host, port: proxy.address.port)
        Output.line("   ledger service on \(upstream); proxy on \(proxy.address), profile reply-lost, seed 1, --framing line")
        Output.line("   the client gives each call one second, then retries once on a new connection")

        // Named in words: the event log numbers the same attempts 0 and 1.
        var answers: [String?] = []
        for attempt in ["the first attempt: ", "the retry:         "] {
            let answer = try await DemoCall.line("deposit 10", to: bound, deadline: Self.deadline, group: group)
            answers.append(answer)
            Output.line("   \(attempt)deposit 10  ->  " + (answer ?? "no answer in time: the outcome is unknown"))
            if answer != nil { break }
        }
        try await proxy.stop(grace: .seconds(1))
        let books = ledger.books
        await ledger.stop()

        Output.line("   the ledger applied \(books.deposits) deposits of 10 (balance \(books.balance)):")
        Output.line("   the first attempt was processed; only its reply was lost. Retrying a call that")
        Output.line("   is not idempotent, with no idempotency key for the service to deduplicate on,")
        Output.line("   pays twice. faultline's profile says which client behaviour is correct:")
        Output.line("   faultline profile show reply-lost")
        Output.line("")
        Output.line("   what the proxy recorded (faultline log summary \(log)):")
        let events = try EventLogReader.read(path: log)
        for line in LogSummary(events: events).text.split(separator: "\n", omittingEmptySubsequences: false) {
            Output.line("     " + line)
        }
        Output.line("   both legs of both connections, as packets: \(pcap)")
        Output.line("     (tshark -r \(pcap), or open it in Wireshark)")
        let lostOnce = events.contains { $0.type == .fault && $0.rule == "lose-first-reply" }
        return answers == [nil, "balance 20"] && books.deposits == 2 && lostOnce
    }
}

extension Demo {
    /// How the third act's client behaves.
    struct DepositClient {
        var label: String
        var mode: DepositService.Mode
        /// An Idempotency-Key per deposit, the same on every attempt.
        var keys: Bool
        /// Wait before the retry (the careful client adds jitter to it).
        var backoff: TimeAmount
    }

    /// Act 3: `check retries` names the naive client's unsafe retry, and the careful
    /// client against the deduplicating ledger passes.
    static func checker(group: any EventLoopGroup, directory: URL) async throws -> Bool {
        Output.line("   the ledger over HTTP (POST /deposits), behind reply-lost and duplicate-delivery, --framing http")
        let naive = try await Self.depositRun(
            DepositClient(label: "naive", mode: .naive, keys: false, backoff: .zero), group: group, directory: directory
        )
        Output.line("")
        let careful = try await Self.depositRun(
            DepositClient(label: "careful", mode: .deduplicating, keys: true, backoff: .milliseconds(100)), group: group, directory: directory
        )
        let naiveFlagged = naive.report.findings.contains { $0.rule == "CR-01" } && naive.books.deposits == 4
            && naive.replay.operations?.first?.classification == .atLeastOnce
        let carefulClean = !careful.report.hasViolations && careful.books.deposits == 2
            && careful.replay.operations?.first?.classification == .deduplicatedByKey && !careful.replay.hasViolations
        return naiveFlagged && carefulClean
    }

    /// One client deposits 10 through each profile; the proxies' logs are checked.
    private static func depositRun(
        _ client: DepositClient, group: any EventLoopGroup, directory: URL
    ) async throws -> (report: CheckReport, replay: CheckReport, books: (balance: Int, deposits: Int)) {
        let ledger = try await DepositService.start(mode: client.mode, group: group)
        let upstream = HostPort(host: "127.0.0.1", port: ledger.address.port ?? 0)
        var logs: [String] = []
        var outcomes: [String] = []
        for (index, profileName) in ["reply-lost", "duplicate-delivery"].enumerated() {
            let log = directory.appendingPathComponent("\(client.label)-\(profileName).jsonl").path
            logs.append(log)
            let proxy = try await ProxyHost.start(
                ProxySpec(
                    name: profileName,
                    listen: HostPort(host: "127.0.0.1", port: 0),
                    upstream: upstream,
                    profile: try ProfileLoader.fromEnvironment().load(profileName),
                    seed: 1,
                    framing: FramingConfiguration(kind: .http, recordPayloads: true),
                    index: UInt32(index),
                    records: ProxyRecords.Paths(log: log)
                ),
                group: group,
                logger: Self.quiet
            )
            let address = try SocketAddress(ipAddress: proxy.address.host, port: proxy.address.port)
            let key = client.keys ? "deposit-\(client.label)-\(index)" : nil
            var attempts: [String] = []
            for attempt in 1...3 {
                let answer = try await DemoCall.deposit(10, key: key, to: address, deadline: .milliseconds(500), group: group)
                attempts.append(answer.map { "HTTP \($0.prefix(3))" } ?? "no answer")
                if answer != nil { break }
                // The careful client backs off with jitter; the naive one retries at once.
                if client.backoff > .zero {
                    let jitter = Int64.random(in: 0...client.backoff.nanoseconds)
                    try await Task.sleep(for: .nanoseconds(client.backoff.nanoseconds * Int64(attempt) + jitter))
                }
            }
            outcomes.append("\(profileName): " + attempts.joined(separator: ", then "))
            try await proxy.stop(grace: .seconds(1))
        }
        let books = ledger.books

        let report = try RetryChecker.check(logs: logs, options: RetryCheckOptions())
        let html = directory.appendingPathComponent("\(client.label)-retries.html").path
        try ReportOutput.write(ReportWriter.write(report, as: .html), to: html)

        let who = client.keys ? "a careful client (an Idempotency-Key per deposit, backoff with jitter)" : "a naive client (no key, retries at once)"
        Output.line("   \(who), ledger \(client.mode == .naive ? "naive" : "deduplicating by key"):")
        for outcome in outcomes { Output.line("     deposit 10 via \(outcome)") }
        Output.line("     the ledger applied \(books.deposits) deposits for 2 intended (balance \(books.balance))")
        let violations = report.findings.filter { $0.severity >= .low }
        if violations.isEmpty {
            Output.line("     faultline check retries: no violations")
        } else {
            for finding in violations.prefix(3) {
                Output.line("     faultline check retries: \(finding.severity.rawValue) \(finding.rule) \(finding.name) on \(finding.operation)")
            }
        }
        Output.line("     report: \(html)")

        // The service's side: replay the recorded deposit against the ledger.
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: upstream))
        options.probes = ["GET /balance"]
        options.timeout = .milliseconds(500)
        let replayCheck = IdempotencyCheck(options: options, recorded: try RecordedRequests.load(path: logs[0]), inputs: [logs[0]], group: group)
        let replay = try await replayCheck.run()
        await ledger.stop()
        let replayHTML = directory.appendingPathComponent("\(client.label)-idempotency.html").path
        try ReportOutput.write(ReportWriter.write(replay, as: .html), to: replayHTML)
        for verdict in replay.operations ?? [] {
            let failed = verdict.failedRules.isEmpty ? "" : " (\(verdict.failedRules.joined(separator: ", ")))"
            Output.line("     faultline check idempotency: \(verdict.operation) is \(verdict.classification.words)\(failed)")
        }
        Output.line("     report: \(replayHTML)")
        return (report, replay, books)
    }
}
