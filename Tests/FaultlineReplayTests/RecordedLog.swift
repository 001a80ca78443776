import FaultlineCore
import FaultlineFraming
import FaultlineProxy
import FaultlineRecords
import FaultlineReplay
import FaultlineTestSupport
import Foundation
import Logging
import NIOCore
import NIOPosix

/// Makes a replay log for real: a client sends `requests` (each on its own connection)
/// through an in-process proxy with framing and `recordPayloads`, writing an event log
/// file, as `faultline proxy --framing http --record-payloads --log FILE` would.
enum RecordedLog {
    static func record(
        upstreamPort: Int,
        framing: ReplayProtocol,
        recordPayloads: Bool = true,
        limits: FramingLimits = FramingLimits(),
        requests: [[UInt8]],
        isComplete: @escaping @Sendable ([UInt8]) -> Bool
    ) async throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("replay-\(UUID().uuidString).jsonl").path
        let log = try EventLog(path: path)
        let proxy = TCPProxy(
            configuration: TCPProxyConfiguration(
                name: "recorded",
                listen: HostPort(host: "127.0.0.1", port: 0),
                upstream: HostPort(host: "127.0.0.1", port: upstreamPort),
                connectTimeout: testDialTimeout,
                framing: FramingConfiguration(kind: Self.kind(framing), limits: limits, recordPayloads: recordPayloads)
            ),
            group: MultiThreadedEventLoopGroup.singleton,
            events: log,
            logger: Logger(label: "faultline.test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let address = try await proxy.start()
        for request in requests {
            _ = try await SocketClient.call(port: address.port!, request: request, limit: .seconds(60), isComplete: isComplete)
        }
        await proxy.shutdown(grace: .seconds(1))
        try await log.close()
        return path
    }

    static func kind(_ wire: ReplayProtocol) -> FramingConfiguration.Kind {
        switch wire {
        case .http: .http
        case .resp: .resp
        case .line: .line
        }
    }

    static func deposit(key: String?, amount: Int = 10, account: Int = 1) -> [UInt8] {
        let body = "{\"amount\":\(amount),\"memo\":\"rent\"}"
        var head = "POST /accounts/\(account)/deposits HTTP/1.1\r\nHost: bank.test\r\nContent-Type: application/json\r\n"
        if let key { head += "Idempotency-Key: \"\(key)\"\r\n" }
        head += "Content-Length: \(body.utf8.count)\r\n\r\n"
        return Array((head + body).utf8)
    }

    static func read(account: Int = 1) -> [UInt8] {
        Array("GET /accounts/\(account) HTTP/1.1\r\nHost: bank.test\r\n\r\n".utf8)
    }
}
