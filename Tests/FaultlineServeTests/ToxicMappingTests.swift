import FaultlineCore
import Foundation
@testable import FaultlineServe
import Testing

/// Each Toxiproxy toxic becomes the rules docs/toxiproxy.md promises.
struct ToxicMappingTests {
    @Test func latencyIsAPerConnectionDelayInItsStream() throws {
        let toxic = Toxic(name: "lag", type: .latency, stream: .upstream, toxicity: 0.25, attributes: ["latency": 120, "jitter": 30])
        let rules = ToxicMapping.rules(for: toxic)
        let rule = try #require(rules.first)
        #expect(rules.count == 1)
        #expect(rule.name == "lag")
        #expect(rule.kind == "delay")
        #expect(rule.match.direction == .upstream)
        #expect(rule.per == .connection)
        #expect(rule.probability == 0.25)
        #expect(rule.fault.params == ["latency": "120ms", "jitter": "30ms", "distribution": "uniform"])
    }

    static let cases: [(Toxic, [String], [[String: String]])] = [
        (Toxic(type: .bandwidth, attributes: ["rate": 64]), ["bandwidth"], [["bytes_per_second": "64000"]]),
        (Toxic(type: .bandwidth, attributes: ["rate": 0]), [], []),
        (Toxic(type: .slowClose, attributes: ["delay": 100]), ["slow_close"], [["delay": "100ms"]]),
        (Toxic(type: .slowClose, attributes: ["delay": 0]), [], []),
        (Toxic(type: .timeout, attributes: ["timeout": 0]), ["blackhole"], [[:]]),
        (Toxic(type: .timeout, attributes: ["timeout": 250]), ["hang"], [["close": "fin", "close_after": "250ms"]]),
        (Toxic(type: .resetPeer, attributes: ["timeout": 40]), ["sever"], [["mode": "reset", "after": "40ms"]]),
        (Toxic(type: .slicer, attributes: ["average_size": 8, "size_variation": 4, "delay": 1500]), ["slice"], [["size": "8", "size_variation": "4", "gap": "1.5ms"]]),
        (Toxic(type: .slicer, attributes: ["average_size": 8, "delay": 1500]), ["slice"], [["size": "8", "gap": "1.5ms"]]),
        (Toxic(type: .limitData, attributes: ["bytes": 1000]), ["sever"], [["mode": "fin", "after_bytes": "1000"]]),
        (Toxic(type: .noop), [], []),
    ]

    @Test(arguments: Self.cases)
    func toxicBecomesRules(toxic: Toxic, kinds: [String], params: [[String: String]]) {
        let rules = ToxicMapping.rules(for: toxic)
        #expect(rules.map(\.kind) == kinds, "\(toxic.type)")
        #expect(rules.map(\.fault.params) == params, "\(toxic.type)")
        #expect(rules.allSatisfy { $0.name == toxic.name && $0.match.direction == .downstream && $0.per == .connection })
    }

    @Test func defaultNameAndZeroedAttributes() {
        let toxic = Toxic(type: .slicer, stream: .upstream)
        #expect(toxic.name == "slicer_upstream")
        #expect(toxic.json.text == #"{"attributes":{"average_size":0,"size_variation":0,"delay":0},"name":"slicer_upstream","type":"slicer","stream":"upstream","toxicity":1}"#)
    }

    @Test func tokensCompareWholly() {
        #expect(ControlAPI.constantTimeEqual("s3cret-token", "s3cret-token"))
        #expect(!ControlAPI.constantTimeEqual("s3cret-tokem", "s3cret-token"))
        #expect(!ControlAPI.constantTimeEqual("s3cret", "s3cret-token"))
        #expect(!ControlAPI.constantTimeEqual("s3cret-token-longer", "s3cret-token"))
        #expect(!ControlAPI.constantTimeEqual("", "s3cret-token"))
    }

    @Test func jsonKeepsOrderAndEscapes() throws {
        let value = JSONValue.object([("b", 1), ("a", .string("<x>\n\"")), ("f", .float(0.1)), ("n", .null)])
        #expect(value.text == #"{"b":1,"a":"\u003cx\u003e\n\"","f":0.1,"n":null}"#)
        let parsed = try JSONValue.parse(Array(#"{"x":[1,2.5,"s",true,null]}"#.utf8).withUnsafeBytes { Data($0) })
        #expect(parsed["x"] == .array([.integer(1), .number(2.5), .string("s"), .bool(true), .null]))
    }
}
