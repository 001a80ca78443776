import FaultlineTestSupport
import Foundation
import NIOCore
import Testing

/// `faultline proxy --framing …` as a user runs it.
@Suite(.timeLimit(.minutes(1)))
struct FramingCommandTests {
    static let badFraming: [([String], String)] = [
        (["--framing", "smtp"], "--framing 'smtp': use one of raw, line, length, http, resp"),
        (["--framing", "length", "--length-prefix", "3"], "the prefix is 1, 2, 4 or 8 bytes"),
        (["--framing", "length", "--length-endian", "middle"], "use big or little"),
        (["--framing", "http", "--length-prefix", "2"], "go with --framing length"),
        (["--framing", "http", "--max-header-size", "lots"], "--max-header-size 'lots'"),
    ]

    @Test(arguments: badFraming)
    func badFramingOptionsExitTwo(options: [String], message: String) async throws {
        let result = try await FaultlineBinary.run(["proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"] + options)
        #expect(result.status == 2)
        #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
    }

    /// Each option must change how the bytes are cut, not only parse: with the defaults
    /// (4 bytes, big endian, not counting itself) these bytes are one incomplete message.
    @Test func lengthFramingWithEveryOptionForwardsByteForByte() async throws {
        let echo = try await TestServer.echo()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("length-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("events.jsonl").path
        let proxy = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)", "--framing", "length",
            "--length-prefix", "2", "--length-endian", "little", "--length-includes-prefix",
            "--max-header-size", "16KiB", "--max-message-size", "1MiB", "--max-hold", "0s", "--log", log,
        ])
        let port = try #require(await proxy.listeningPort())
        let message = ByteBuffer(bytes: [7, 0, 1, 2, 3, 4, 5, 3, 0, 9])
        let client = try await TestClient.connect(port: port)
        let echoed = try await client.executeThenClose { inbound, outbound in
            try await outbound.write(message)
            outbound.finish()
            return try await TestClient.readAll(inbound)
        }
        #expect(echoed == message)
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)
        await echo.stop()
        // 07 00 counts 7 bytes with itself, 03 00 counts 3: two messages each way.
        let sizes = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap { line -> String? in
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                event["type"] as? String == "message", let bytes = event["bytes"] as? Int
            else { return nil }
            return "\(event["direction"] as? String ?? "?") \(bytes)"
        }
        #expect(sizes.sorted() == ["downstream 3", "downstream 7", "upstream 3", "upstream 7"], "messages: \(sizes)")
    }

    /// --max-message-size takes effect: a line over it makes the connection raw, and the
    /// logged reason names the limit given.
    @Test func maxMessageSizeIsTheLimitTheFramerApplies() async throws {
        let echo = try await TestServer.echo()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("limit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("events.jsonl").path
        let proxy = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)", "--framing", "line",
            "--max-message-size", "1KiB", "--log", log,
        ])
        let port = try #require(await proxy.listeningPort())
        let request = "short line\n" + String(repeating: "x", count: 2000) + "\n"
        let ending = try await SocketClient.exchange(port: port, request: request, finish: true)
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)
        await echo.stop()
        #expect(ending == .eof(request))
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text.contains("1024-byte message limit"), "log: \(text)")
    }

    @Test func helpDocumentsFraming() async throws {
        let result = try await FaultlineBinary.run(["proxy", "--help"])
        #expect(result.status == 0)
        for option in ["--framing", "--length-prefix", "--length-endian", "--length-includes-prefix", "--record-payloads", "--max-hold"] {
            #expect(result.stdout.contains(option), "\(option) missing from help")
        }
    }

    @Test(arguments: ["http", "resp", "line"])
    func framedProxyForwardsByteForByte(framing: String) async throws {
        let echo = try await TestServer.echo()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("framed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("events.jsonl").path
        let proxy = try FaultlineBinary.start([
            "proxy", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(echo.port)", "--framing", framing,
            "--record-payloads", "--log", log,
        ])
        let port = try #require(await proxy.listeningPort())
        let request = "GET /through-the-binary HTTP/1.1\r\nHost: x\r\n\r\n"
        let client = try await TestClient.connect(port: port)
        let echoed = try await client.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            outbound.finish()
            return String(buffer: try await TestClient.readAll(inbound))
        }
        #expect(echoed == request)
        proxy.signal(SIGTERM)
        #expect(await proxy.exitStatus() == 0)
        await echo.stop()
        // --record-payloads: the request's messages carry its bytes, base64, in order.
        let payloads = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap { line -> Data? in
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                event["type"] as? String == "message", event["direction"] as? String == "upstream",
                let payload = event["payload"] as? String
            else { return nil }
            return Data(base64Encoded: payload)
        }
        #expect(!payloads.isEmpty, "no message event carries a payload")
        #expect(String(decoding: payloads.reduce(Data(), +), as: UTF8.self) == request)
    }
}
