import FaultlineChecker
import FaultlineCore
import FaultlineFraming
import FaultlineRecords
import Foundation
import NIOCore

/// The parsers faultline exposes to bytes other people wrote, each as a function from
/// one fuzz case to the invariants it broke.
///
/// Shared by the libFuzzer executables (`make fuzz`, which trap on a broken invariant)
/// and by `FuzzCorpusTests` in the normal suite, which replays every committed corpus
/// file and crash through the same code, so a fixed crash cannot come back.
package enum FuzzTarget: String, CaseIterable, Sendable {
    case http
    case resp
    case line
    case length
    case profile
    case eventLog = "event-log"
    case pcap

    /// Runs one case; returns what went wrong (empty: every invariant held).
    ///
    /// A crash, a trap or an allocation the sanitizer refuses is the other way to fail.
    package func run(_ bytes: [UInt8]) -> [String] {
        var input = FuzzInput(bytes)
        switch self {
        case .http: return Self.http(&input)
        case .resp: return Self.resp(&input)
        case .line: return Self.line(&input)
        case .length: return Self.length(&input)
        case .profile: return Self.profile(&input)
        case .eventLog: return Self.eventLog(&input)
        case .pcap: return Self.pcap(&input)
        }
    }

    // MARK: Framers

    /// Small limits (to reach every limit path quickly) or the defaults.
    static func limits(_ control: UInt8) -> FramingLimits {
        control & 1 == 1 ? FramingLimits(maxHeaderBytes: 256, maxMessageBytes: 1024) : FramingLimits()
    }

    /// Cuts `bytes` as a socket might: many tiny reads, some large ones.
    static func chunks(of bytes: ArraySlice<UInt8>, seed: UInt8) -> [ByteBuffer] {
        var random = SplitMix64(seed: UInt64(seed))
        var chunks: [ByteBuffer] = []
        var rest = bytes[...]
        let largest = [3, 64, 4096][Int(seed) % 3]
        while !rest.isEmpty {
            let size = min(rest.count, Int.random(in: 1...largest, using: &random))
            chunks.append(ByteBuffer(bytes: rest.prefix(size)))
            rest = rest.dropFirst(size)
        }
        return chunks
    }

    /// One direction of one connection, driven the way `FramingHandler` drives a framer.
    struct Direction<Framer: MessageFramer> {
        var framer: Framer
        var buffer = ByteBuffer()
        var forwarded = ByteBuffer()
        var messages = 0
        var isRaw = false
        var problems: [String] = []
        /// Called for each message taken (HTTP pairs replies with forwarded requests).
        var onMessage: (MessageInfo) -> Void = { _ in }

        init(_ framer: Framer) {
            self.framer = framer
        }

        mutating func feed(_ chunk: ByteBuffer) {
            var chunk = chunk
            if self.isRaw {
                self.forwarded.writeBuffer(&chunk)
                return
            }
            self.buffer.writeBuffer(&chunk)
            while !self.isRaw {
                let before = self.buffer.readableBytes
                switch self.framer.decode(buffer: &self.buffer) {
                case .needMoreData:
                    if self.buffer.readableBytes != before { self.problems.append("needMoreData read bytes") }
                    return
                case .message(var bytes, let info):
                    if bytes.readableBytes == 0 { self.problems.append("an empty message") }
                    if before - self.buffer.readableBytes != bytes.readableBytes {
                        self.problems.append("a message of \(bytes.readableBytes) bytes took \(before - self.buffer.readableBytes)")
                    }
                    self.messages += 1
                    self.onMessage(info)
                    self.forwarded.writeBuffer(&bytes)
                case .raw(let reason):
                    if reason.isEmpty { self.problems.append("a fallback without a reason") }
                    if self.buffer.readableBytes != before { self.problems.append("raw read bytes") }
                    self.isRaw = true
                    self.forwarded.writeBuffer(&self.buffer)
                }
            }
        }

        mutating func end() {
            if !self.isRaw, var last = self.framer.decodeLast(buffer: &self.buffer)?.bytes {
                self.forwarded.writeBuffer(&last)
            }
            self.forwarded.writeBuffer(&self.buffer)
        }

        /// Every byte came out, in order, and nothing else.
        func check(against input: ArraySlice<UInt8>, _ name: String) -> [String] {
            var problems = self.problems.map { "\(name): \($0)" }
            if self.forwarded.readableBytesView.elementsEqual(input) == false {
                problems.append("\(name): forwarded \(self.forwarded.readableBytes) bytes, not the \(input.count) given, in order")
            }
            return problems
        }
    }

    static func frame(_ framer: some MessageFramer, _ input: inout FuzzInput, name: String) -> [String] {
        let seed = input.take()
        let payload = input.rest
        var direction = Direction(framer)
        for chunk in Self.chunks(of: payload, seed: seed) { direction.feed(chunk) }
        direction.end()
        return direction.check(against: payload, name)
    }

    /// Both directions of one HTTP connection: the first control byte splits the payload
    /// into the client's bytes and the server's; their chunks interleave, and each request
    /// taken is forwarded so replies pair with it.
    static func http(_ input: inout FuzzInput) -> [String] {
        let limits = Self.limits(input.take())
        let seed = input.take()
        let split = input.take()
        let payload = input.rest
        let cut = payload.startIndex + payload.count * Int(split) / 256
        let requests = payload[..<cut], responses = payload[cut...]
        let (requestFramer, responseFramer) = HTTPFramer.pair(limits: limits)
        let forwarder = requestFramer
        var client = Direction(requestFramer)
        client.onMessage = { info in forwarder.requestForwarded(info) }
        var server = Direction(responseFramer)
        let up = Self.chunks(of: requests, seed: seed), down = Self.chunks(of: responses, seed: seed &+ 1)
        for index in 0..<max(up.count, down.count) {
            if index < up.count { client.feed(up[index]) }
            if index < down.count { server.feed(down[index]) }
        }
        client.end()
        server.end()
        return client.check(against: requests, "requests") + server.check(against: responses, "responses")
    }

    static func resp(_ input: inout FuzzInput) -> [String] {
        let control = input.take()
        let framer = RESPFramer(role: control & 2 == 0 ? .request : .response, limits: Self.limits(control))
        return Self.frame(framer, &input, name: "resp")
    }

    static func line(_ input: inout FuzzInput) -> [String] {
        let control = input.take()
        let framer = LineFramer(role: control & 2 == 0 ? .request : .response, limits: Self.limits(control))
        return Self.frame(framer, &input, name: "line")
    }

    static func length(_ input: inout FuzzInput) -> [String] {
        let control = input.take()
        let prefix: LengthPrefix
        do {
            prefix = try LengthPrefix(
                width: LengthPrefix.widths[Int(control) & 3],
                endianness: control & 4 == 0 ? .big : .little,
                includesPrefix: control & 8 != 0
            )
        } catch {
            return ["LengthPrefix refused a listed width: \(error)"]
        }
        let framer = LengthFramer(prefix: prefix, role: .request, limits: Self.limits(control >> 4))
        return Self.frame(framer, &input, name: "length")
    }

    // MARK: Files

    /// A profile (YAML, or JSON) as `faultline profile validate` reads it: loaded against
    /// the shipped library, explained when it is valid.
    static func profile(_ input: inout FuzzInput) -> [String] {
        let text = String(decoding: input.rest, as: UTF8.self)
        let loader = ProfileLoader(searchPath: [])
        do {
            let profile = try loader.load(text: text, file: "fuzz.yaml")
            _ = ProfileExplainer.explain(profile)
        } catch {
            if "\(error)".isEmpty { return ["an error without a message"] }
        }
        return []
    }

    /// An event log as `faultline log summary` and `check retries` read it: streamed in
    /// small or large blocks, every event summed, accounted and judged, the report
    /// written in every format.
    static func eventLog(_ input: inout FuzzInput) -> [String] {
        let blockSize = [7, 64, 4096, EventLogReader.defaultBlockSize][Int(input.take()) & 3]
        var summary = LogSummary()
        var accounting = Accounting()
        var checker = RetryChecker(options: RetryCheckOptions(), inputs: ["fuzz.jsonl"])
        var judging = true
        do {
            try EventLogReader.forEach(data: Data(input.rest), file: "fuzz.jsonl", blockSize: blockSize) { event, line in
                summary.add(event)
                accounting.add(event)
                if judging {
                    // A log the checker cannot judge (no framing, say) is refused, not a crash.
                    do { try checker.consume(event, file: "fuzz.jsonl", line: line) } catch { judging = false }
                }
            }
        } catch {
            if "\(error)".isEmpty { return ["an error without a message"] }
        }
        summary.finish()
        _ = accounting.finish()
        let report = checker.finish()
        for format in ReportFormat.allCases { _ = ReportWriter.write(report, as: format) }
        return []
    }

    /// A capture file as `faultline` reads one back: libpcap's reader, then TCP
    /// reassembly and the events rebuilt from each stream.
    static func pcap(_ input: inout FuzzInput) -> [String] {
        let path = NSTemporaryDirectory() + "faultline-fuzz-\(getpid()).pcap"
        guard FileManager.default.createFile(atPath: path, contents: Data(input.rest)) else {
            return ["cannot write \(path)"]
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard let streams = try? TCPStreamReassembler.streams(fromCaptureAt: path) else { return [] }
        for (index, stream) in streams.enumerated() {
            _ = stream.events(proxy: "fuzz", connection: UInt64(index), recordPayloads: true)
        }
        return []
    }
}
