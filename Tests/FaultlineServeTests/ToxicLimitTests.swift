import FaultlineCore
import Foundation
@testable import FaultlineServe
import Testing

/// Toxics whose numbers pass Int64 once scaled: a trial's `bandwidth` `rate`
/// 18014398509481984 (× 1000 passes Int64) killed `faultline serve` (SIGILL) at the
/// POST, and `latency`/`slicer` toxics near Int64 killed it at the first bytes.
struct ToxicLimitTests {
    /// A rate past what the proxy carries is no limit: 2,147,483,647 bytes/s, as any
    /// rate above 2,147,483 KB/s already was (docs/toxiproxy.md).
    @Test(arguments: [2_147_484, 18_014_398_509_481_984, Int64.max])
    func aHugeBandwidthRateIsTheHighestRate(rate: Int64) throws {
        let rules = ToxicMapping.rules(for: Toxic(type: .bandwidth, attributes: ["rate": rate]))
        #expect(rules.map(\.fault.params) == [["bytes_per_second": "2147483647"]])
    }

    static func body(_ type: String, _ attributes: String) throws -> JSONValue {
        try JSONValue.parse(Data(#"{"type":"\#(type)","attributes":{\#(attributes)}}"#.utf8))
    }

    /// Times above 7 days (profiles' bound) are a 400 naming the attribute and the bound.
    @Test(arguments: [
        ("latency", #""latency":9223372036854775,"jitter":0"#, "toxic.attributes.latency: latency takes at most 604800000 ms (168h (7 days)), got 9223372036854775"),
        ("latency", #""latency":1,"jitter":604800001"#, "toxic.attributes.jitter: latency takes at most 604800000 ms"),
        ("slow_close", #""delay":604800001"#, "toxic.attributes.delay: slow_close takes at most 604800000 ms"),
        ("timeout", #""timeout":604800001"#, "toxic.attributes.timeout: timeout takes at most 604800000 ms"),
        ("reset_peer", #""timeout":604800001"#, "toxic.attributes.timeout: reset_peer takes at most 604800000 ms"),
        ("slicer", #""average_size":1,"delay":1000000000000"#, "toxic.attributes.delay: slicer takes at most 604800000000 µs (168h (7 days)), got 1000000000000"),
    ])
    func aTimeAboveSevenDaysIsRefused(type: String, attributes: String, message: String) throws {
        let error = try #require(throws: ServeError.self) {
            try ControlAPI.toxic(from: Self.body(type, attributes), taken: [])
        }
        #expect(error.status == 400)
        #expect(error.message.contains("bad request body: \(message)"), "\(error.message)")
        // An update is checked the same way.
        let current = Toxic(type: try #require(ToxicType(rawValue: type)))
        #expect(throws: ServeError.self) {
            try ControlAPI.toxicUpdate(Self.body(type, attributes), current: current)
        }
    }

    /// 7 days exactly is accepted, and what it maps to runs without trapping.
    @Test func sevenDaysIsAccepted() throws {
        let latency = try ControlAPI.toxic(from: Self.body("latency", #""latency":604800000,"jitter":604800000"#), taken: [])
        #expect(ToxicMapping.rules(for: latency).map(\.fault.params) == [["latency": "168h", "jitter": "168h", "distribution": "uniform"]])
        let slicer = try ControlAPI.toxic(from: Self.body("slicer", #""average_size":1,"delay":604800000000"#), taken: [])
        #expect(ToxicMapping.rules(for: slicer).map(\.fault.params) == [["size": "1", "gap": "168h"]])
    }
}
