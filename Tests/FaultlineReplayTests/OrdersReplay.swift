import FaultlineChecker
import FaultlineCore
import FaultlineFraming
import FaultlineReplay
import FaultlineTestSupport
import Foundation

/// Records requests against an `OrdersService` in its plain style (lengths, no
/// compression), switches it to the style under test, and replays them: the trial's
/// services answered their recorded client one way and replay another.
enum OrdersReplay {
    static func order(key: String?, acceptGzip: Bool = false) -> [UInt8] {
        let body = #"{"item":"book","qty":2}"#
        var head = "POST /orders HTTP/1.1\r\nHost: shop.test\r\nContent-Type: application/json\r\n"
        if acceptGzip { head += "Accept-Encoding: gzip, deflate\r\n" }
        if let key { head += "Idempotency-Key: \"\(key)\"\r\n" }
        return Array((head + "Content-Length: \(body.utf8.count)\r\n\r\n" + body).utf8)
    }

    static func put(value: Int = 5) -> [UInt8] {
        let body = "{\"value\":\(value)}"
        return Array("PUT /items/1 HTTP/1.1\r\nHost: shop.test\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
    }

    static func get(_ path: String) -> [UInt8] {
        Array("GET \(path) HTTP/1.1\r\nHost: shop.test\r\n\r\n".utf8)
    }

    static func counter(bodyBytes: Int = 2) -> [UInt8] {
        let body = String(repeating: "x", count: bodyBytes)
        return Array("POST /counter HTTP/1.1\r\nHost: shop.test\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
    }

    static func check(
        _ service: OrdersService,
        style: OrdersService.Style,
        requests: [[UInt8]],
        probes: [String] = [],
        limits: FramingLimits = FramingLimits(),
        progress: PrintedLines = PrintedLines(),
        configure: (inout IdempotencyCheckOptions) -> Void = { _ in }
    ) async throws -> CheckReport {
        service.setStyle(OrdersService.Style())
        let log = try await RecordedLog.record(
            upstreamPort: service.port, framing: .http, limits: limits, requests: requests,
            isComplete: HTTPTestMessage.isCompleteResponse
        )
        defer { try? FileManager.default.removeItem(atPath: log) }
        service.setStyle(style)
        var options = IdempotencyCheckOptions(target: ReplayTarget(address: HostPort(host: "127.0.0.1", port: service.port)))
        options.timeout = .seconds(60)  // a guard against hangs only: a loaded machine may answer slowly
        options.probes = probes
        configure(&options)
        let recorded = try RecordedRequests.load(path: log)
        return try await IdempotencyCheck(options: options, recorded: recorded, inputs: [log], progress: { progress.append($0) }).run()
    }

    static func verdict(_ report: CheckReport, _ operation: String) -> CheckReport.OperationVerdict? {
        report.operations?.first { $0.operation == operation }
    }
}
