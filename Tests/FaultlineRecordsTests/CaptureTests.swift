import FaultlineCore
import FaultlineProxy
import FaultlineRecords
import FaultlineTestSupport
import Foundation
import Logging
import NIOCore
import NIOPosix
import Pcap
import Testing

/// `--pcap`: both legs of every connection, read back with libpcap's offline reader and
/// with tshark.
@Suite(.timeLimit(.minutes(1)))
struct CaptureTests {
    /// One exchange: the client sends `request`, the server answers `reply` after EOF.
    struct Exchange: Sendable {
        var request: [UInt8]
        var reply: [UInt8]
    }

    /// Reply = "re:" + the request reversed, so the two directions differ.
    static func reply(to request: [UInt8]) -> [UInt8] {
        Array("re:".utf8) + request.reversed()
    }

    static func pattern(_ seed: UInt64, _ size: Int) -> [UInt8] {
        var pattern = PatternBytes(seed: seed, total: size)
        var bytes: [UInt8] = []
        while let chunk = pattern.next() { bytes.append(contentsOf: chunk.readableBytesView) }
        return bytes
    }

    /// Runs `sizes.count` concurrent connections through a proxy writing to `capture`,
    /// returns what each exchanged plus the proxy's and the server's ports.
    static func run(sizes: [Int], capture: PacketCapture, events: any EventSink = NullEventSink()) async throws -> (exchanges: [Exchange], proxyPort: Int, serverPort: Int) {
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, outbound in
                let request = try await TestClient.readAll(inbound)
                try await outbound.write(ByteBuffer(bytes: Self.reply(to: Array(request.readableBytesView))))
                try await TestServer.finishAfterFlush(connection, outbound)
            }
        }
        let proxy = TCPProxy(
            configuration: TCPProxyConfiguration(
                name: "cap",
                listen: HostPort(host: "127.0.0.1", port: 0),
                upstream: HostPort(host: "127.0.0.1", port: server.port),
                connectTimeout: testDialTimeout
            ),
            group: MultiThreadedEventLoopGroup.singleton,
            events: events,
            capture: capture,
            logger: Logger(label: "faultline.test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let port = try #require(try await proxy.start().port)
        let exchanges = try await withThrowingTaskGroup(of: Exchange.self) { group in
            for (index, size) in sizes.enumerated() {
                group.addTask {
                    let request = Self.pattern(UInt64(index + 1), size)
                    let client = try await TestClient.connect(port: port)
                    return try await client.executeThenClose { inbound, outbound in
                        var rest = request[...]
                        while !rest.isEmpty {
                            try await outbound.write(ByteBuffer(bytes: rest.prefix(5000)))
                            rest = rest.dropFirst(5000)
                        }
                        outbound.finish()
                        let reply = try await TestClient.readAll(inbound)
                        return Exchange(request: request, reply: Array(reply.readableBytesView))
                    }
                }
            }
            var all: [Exchange] = []
            for try await exchange in group { all.append(exchange) }
            return all
        }
        await proxy.shutdown(grace: .seconds(1))
        try await capture.close()
        await server.stop()
        return (exchanges, port, server.port)
    }

    @Test func bothLegsOfConcurrentConnectionsReassembleByteForByte() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("run.pcap")
        let capture = try PacketCapture(path: path)
        let sizes = [0, 1, 1460, 20_000, 100_000, 333]
        let (exchanges, proxyPort, serverPort) = try await Self.run(sizes: sizes, capture: capture)
        #expect(exchanges.allSatisfy { $0.reply == Self.reply(to: $0.request) })
        #expect(capture.droppedPackets == 0)

        let (linkType, _) = try PcapOfflineReader.readAll(path: path)
        #expect(linkType == .raw)
        let streams = try TCPStreamReassembler.streams(fromCaptureAt: path)
        #expect(streams.count == 2 * sizes.count)
        for exchange in exchanges {
            let legs = streams.filter { $0.clientToServer == exchange.request && $0.serverToClient == exchange.reply }
            let ports = Set(legs.map { Int($0.server.port) })
            #expect(
                ports == [proxyPort, serverPort],
                """
                request of \(exchange.request.count) bytes: legs on ports \(ports), proxy \(proxyPort), server \(serverPort); \
                all streams: \(streams.map { "\($0.client)->\($0.server) \($0.clientToServer.count)/\($0.serverToClient.count) syn \($0.sawSYN) fin \($0.clientFIN)/\($0.serverFIN) rst \($0.reset) missing \($0.missingBytes) same-request \($0.clientToServer == exchange.request) same-reply \($0.serverToClient == exchange.reply)" })
                """
            )
            for leg in legs {
                #expect(leg.sawSYN && leg.clientFIN && leg.serverFIN && !leg.reset && leg.missingBytes == 0)
            }
        }
    }

    /// tshark reads the file without a complaint and `follow,tcp,raw` gives the bytes.
    @Test func tsharkFollowsTheStreamsExactly() async throws {
        let tshark = try #require(Self.tshark, "tshark is needed for this test: run `make test-deps` (apt-get install tshark)")
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("run.pcap")
        let capture = try PacketCapture(path: path)
        let (exchanges, _, _) = try await Self.run(sizes: [3000, 70_000], capture: capture)

        let read = try await Self.execute(tshark, ["-r", path])
        #expect(read.status == 0)
        #expect(read.stderr.isEmpty, "tshark said: \(read.stderr)")
        // tshark's analysis finds nothing wrong with the synthetic headers either. Only the
        // link, IP and TCP layers count: tshark guesses application protocols from port
        // numbers, and an ephemeral port (34980 is EtherCAT's) makes it misread the
        // test's random payload.
        let expert = try await Self.execute(tshark, ["-r", path, "-q", "-z", "expert,warn"])
        #expect(expert.status == 0 && expert.stderr.isEmpty)
        let headerComplaints = expert.stdout.split(separator: "\n").filter { row in
            let columns = row.split(separator: " ", omittingEmptySubsequences: true)
            return columns.count >= 3 && ["Frame", "Ethernet", "SLL", "IPv4", "IPv6", "TCP"].contains(String(columns[2]))
        }
        #expect(headerComplaints.isEmpty, "tshark: \(expert.stdout)")
        // Every IP and TCP checksum verifies (status 1 is "good").
        let checksums = try await Self.execute(
            tshark,
            ["-r", path, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-T", "fields", "-e", "ip.checksum.status", "-e", "tcp.checksum.status"]
        )
        let statuses = Set(checksums.stdout.split(separator: "\n").map(String.init))
        #expect(statuses == ["1\t1"], "checksum statuses: \(statuses)")

        let streams = try TCPStreamReassembler.streams(fromCaptureAt: path)
        for index in 0..<streams.count {
            let follow = try await Self.execute(tshark, ["-r", path, "-qz", "follow,tcp,raw,\(index)"])
            #expect(follow.status == 0 && follow.stderr.isEmpty, "tshark said: \(follow.stderr)")
            let (toServer, toClient) = Self.parseFollowRaw(follow.stdout)
            #expect(toServer.count + toClient.count > 0, "tshark stream \(index) is empty")
            #expect(
                streams.contains { $0.clientToServer == toServer && $0.serverToClient == toClient },
                "tshark stream \(index) (\(toServer.count) and \(toClient.count) bytes) differs from every reassembled stream"
            )
        }
        let requests = Set(exchanges.map(\.request))
        let captured = Set(streams.map(\.clientToServer))
        #expect(
            captured == requests,
            "captured \(streams.map { ($0.clientToServer.count, $0.serverToClient.count, $0.missingBytes, $0.server.port) }), sent \(exchanges.map(\.request.count))"
        )
    }

    /// An upstream RST shows as RST on the upstream leg (from the server) and on the
    /// client leg (from the proxy, which passes the reset on).
    @Test func resetsAppearWhereTheyHappened() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("reset.pcap")
        let capture = try PacketCapture(path: path)
        let server = try await TestServer.start { connection in
            try await connection.executeThenClose { inbound, _ in
                var iterator = inbound.makeAsyncIterator()
                _ = try await iterator.next()
                connection.channel.resetAndClose()
            }
        }
        let proxy = TCPProxy(
            configuration: TCPProxyConfiguration(
                name: "rst",
                listen: HostPort(host: "127.0.0.1", port: 0),
                upstream: HostPort(host: "127.0.0.1", port: server.port),
                connectTimeout: testDialTimeout
            ),
            group: MultiThreadedEventLoopGroup.singleton,
            capture: capture,
            logger: Logger(label: "faultline.test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let port = try #require(try await proxy.start().port)
        let client = try await TestClient.connect(port: port)
        try? await client.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "provoke a reset"))
            _ = try await TestClient.readAll(inbound)
        }
        await proxy.shutdown(grace: .seconds(1))
        try await capture.close()
        await server.stop()
        let streams = try TCPStreamReassembler.streams(fromCaptureAt: path)
        #expect(streams.count == 2)
        #expect(streams.allSatisfy { $0.reset && $0.clientToServer == Array("provoke a reset".utf8) })
        #expect(Set(streams.map { Int($0.server.port) }) == [port, server.port])
    }

    /// A proxy listening on IPv6 in front of an IPv4 upstream: the client leg is written
    /// as IPv6, the upstream leg as IPv4, both reassemble.
    @Test func ipv6AndIPv4LegsInOneCapture() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("v6.pcap")
        let capture = try PacketCapture(path: path)
        let server = try await TestServer.echo()
        let proxy = TCPProxy(
            configuration: TCPProxyConfiguration(
                name: "v6",
                listen: HostPort(host: "::1", port: 0),
                upstream: HostPort(host: "127.0.0.1", port: server.port),
                connectTimeout: testDialTimeout
            ),
            group: MultiThreadedEventLoopGroup.singleton,
            capture: capture,
            logger: Logger(label: "faultline.test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let port = try #require(try await proxy.start().port)
        let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: "::1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FlushingHalfCloseHandler())
                    return try TestClient.Connection(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        let echoed = try await client.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "over IPv6"))
            outbound.finish()
            return try await TestClient.readAll(inbound)
        }
        #expect(echoed == ByteBuffer(string: "over IPv6"))
        await proxy.shutdown(grace: .seconds(1))
        try await capture.close()
        await server.stop()
        let streams = try TCPStreamReassembler.streams(fromCaptureAt: path)
        #expect(streams.map(\.client.isIPv6).sorted { !$0 && $1 } == [false, true])
        #expect(streams.allSatisfy { $0.clientToServer == Array("over IPv6".utf8) && $0.serverToClient == $0.clientToServer })
        if let tshark = Self.tshark {
            let read = try await Self.execute(tshark, ["-r", path])
            #expect(read.status == 0 && read.stderr.isEmpty, "tshark said: \(read.stderr)")
            #expect(read.stdout.contains("::1 → ::1") || read.stdout.contains("::1 -> ::1"), "tshark: \(read.stdout)")
        }
    }

    @Test func rotationStartsNewCompleteFiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("run.pcap")
        let capture = try PacketCapture(path: path, maxFileSize: 64 * 1024)
        let (exchanges, _, _) = try await Self.run(sizes: [50_000, 50_000, 50_000], capture: capture)
        let files = capture.files
        #expect(files.count > 2)
        #expect(files.first == path)
        #expect(files.dropFirst().first == directory.path("run.1.pcap"))
        var total = 0
        for file in files {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect((attributes[.size] as? Int ?? 0) <= 64 * 1024)
            let streams = try TCPStreamReassembler.streams(fromCaptureAt: file)
            total += streams.reduce(0) { $0 + $1.clientToServer.count + $1.serverToClient.count }
        }
        let expected = exchanges.reduce(0) { $0 + 2 * ($1.request.count + $1.reply.count) }
        #expect(total == expected)
    }

    /// A capture read back as log events balances, and payloads survive as base64.
    @Test func reassembledStreamsBecomeLogEvents() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("run.pcap")
        let capture = try PacketCapture(path: path)
        _ = try await Self.run(sizes: [5, 1000], capture: capture)
        let streams = try TCPStreamReassembler.streams(fromCaptureAt: path)
        let events = streams.enumerated().flatMap { $0.element.events(proxy: "pcap", connection: UInt64($0.offset), recordPayloads: true) }
        #expect(Accounting.check(events).isEmpty)
        #expect(
            events.filter { $0.type == .message }.count == 8,
            "streams: \(streams.map { "\($0.client)->\($0.server) \($0.clientToServer.count)/\($0.serverToClient.count) syn \($0.sawSYN) fin \($0.clientFIN)/\($0.serverFIN) rst \($0.reset) missing \($0.missingBytes)" })"
        )
        let five = try #require(events.first { $0.type == .message && $0.bytes == 5 })
        #expect(five.payload == Foundation.Data(Self.pattern(1, 5)).base64EncodedString())
    }

    @Test func udpDatagramsAreWrittenAsUDP() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("udp.pcap")
        let capture = try PacketCapture(path: path)
        let client = IPEndpoint(address: [127, 0, 0, 1], port: 40000)
        let server = IPEndpoint(address: [127, 0, 0, 1], port: 53)
        capture.udpDatagram(from: client, to: server, payload: ByteBuffer(string: "question"))
        capture.udpDatagram(from: server, to: client, payload: ByteBuffer(string: "answer"))
        try await capture.close()
        let (_, packets) = try PcapOfflineReader.readAll(path: path)
        #expect(packets.count == 2)
        #expect(packets.map { $0.data[9] } == [17, 17])  // IPv4 protocol: UDP
        #expect(packets.map { Array($0.data[28...]) } == [Array("question".utf8), Array("answer".utf8)])
        #expect(packets[0].data[20..<24] == [0x9C, 0x40, 0x00, 0x35])  // ports 40000 → 53
        if let tshark = Self.tshark {
            let checked = try await Self.execute(
                tshark, ["-r", path, "-o", "udp.check_checksum:TRUE", "-T", "fields", "-e", "udp.checksum.status", "-e", "udp.length"]
            )
            #expect(checked.stdout.split(separator: "\n") == ["1\t16", "1\t14"])
        }
    }

    static var hasDevFull: Bool {
        var info = stat()
        return stat("/dev/full", &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR
    }

    /// A capture that cannot be written (a full disk) loses the batch it was writing and
    /// every packet after it, and counts them all: its `capture_dropped` event says the
    /// capture is incomplete and why. (Before, packets after the failure went uncounted.)
    @Test(.enabled(if: hasDevFull, "/dev/full is not the full device here"))
    func aFullDiskCountsEveryPacketLost() async throws {
        let capture = try PacketCapture(path: "/dev/full")
        let client = IPEndpoint(address: [127, 0, 0, 1], port: 40000)
        let server = IPEndpoint(address: [127, 0, 0, 1], port: 53)
        for ordinal in 0..<200 {
            capture.udpDatagram(from: client, to: server, payload: ByteBuffer(repeating: UInt8(ordinal % 256), count: 1_000))
        }
        let error = await #expect(throws: PcapError.self) { try await capture.close() }
        #expect(error?.message.contains("No space left on device") == true, "\(String(describing: error))")
        #expect(capture.writtenPackets == 0)
        #expect(capture.droppedPackets == 200)
        let event = try #require(capture.droppedEvent)
        #expect(event.count == 200)
        #expect(event.reason?.hasPrefix("the packet capture could not be written (") == true, "\(event)")
        #expect(event.reason?.hasSuffix("; 200 packets were not written to /dev/full") == true, "\(event)")
    }

    @Test func anUnwritableCapturePathIsAFileError() {
        let error = #expect(throws: PcapError.self) {
            _ = try PacketCapture(path: "/nonexistent-directory/run.pcap")
        }
        #expect(error?.kind == .file)
        #expect(error?.message.contains("/nonexistent-directory/run.pcap") == true)
    }

    // MARK: Helpers

    static var tshark: String? {
        ["/usr/bin/tshark", "/usr/local/bin/tshark", "/opt/homebrew/bin/tshark"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// Runs `executable` to completion. tshark wants a writable home for its profile;
    /// it gets the temporary directory, not the user's. As root it always prints a
    /// notice about that, which is not about the file, so that line is left out.
    static func execute(_ executable: String, _ arguments: [String]) async throws -> ChildProcess.Result {
        var result = try await ChildProcess.run(
            URL(fileURLWithPath: executable), arguments, environment: ["HOME": FileManager.default.temporaryDirectory.path]
        )
        result.stderr = result.stderr
            .split(separator: "\n")
            .filter { !$0.hasPrefix("Running as user \"root\"") }
            .joined(separator: "\n")
        return result
    }

    /// `follow,tcp,raw` prints hex lines between `===` rules; lines indented with a tab
    /// are from the second node (the server).
    static func parseFollowRaw(_ text: String) -> (toServer: [UInt8], toClient: [UInt8]) {
        var toServer: [UInt8] = []
        var toClient: [UInt8] = []
        var inBody = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("===") {
                inBody.toggle()
                continue
            }
            guard inBody, !line.hasPrefix("Follow:"), !line.hasPrefix("Filter:"), !line.hasPrefix("Node 0:"),
                !line.hasPrefix("Node 1:"), !line.isEmpty
            else { continue }
            let fromServer = line.hasPrefix("\t")
            let hex = line.trimmingCharacters(in: .whitespaces)
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex),
                let byte = UInt8(hex[index..<next], radix: 16)
            {
                bytes.append(byte)
                index = next
            }
            if fromServer { toClient += bytes } else { toServer += bytes }
        }
        return (toServer, toClient)
    }
}
