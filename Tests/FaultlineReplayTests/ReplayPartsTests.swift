import FaultlineCore
import FaultlineRecords
import FaultlineReplay
import Foundation
import Testing

/// Operation names, and the logs replay refuses.
struct ReplayPartsTests {
    static let names: [(String, String, String)] = [
        ("POST", "/charges/17", "POST /charges/{id}"),
        ("post", "/charges/42?expand=true", "POST /charges/{id}"),
        ("GET", "/accounts/9f1c2b7e-3a4d-4c5e-8f90-1a2b3c4d5e6f/history", "GET /accounts/{id}/history"),
        ("PUT", "/", "PUT /"),
    ]

    @Test(arguments: Self.names)
    func httpOperationsFoldIDsAndDropTheQuery(method: String, path: String, expected: String) {
        #expect(ReplayOperationName.http(method: method, target: path) == expected)
    }

    @Test func setWithNXIsItsOwnOperation() {
        #expect(ReplayOperationName.resp(words: ["set", "k", "v", "NX"]) == "SET NX")
        #expect(ReplayOperationName.resp(words: ["SET", "k", "v", "EX", "10"]) == "SET")
        #expect(ReplayOperationName.resp(words: ["incr", "n"]) == "INCR")
    }

    static func writeLog(_ lines: [String]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("replay-\(UUID().uuidString).jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aLogWithoutPayloadsNamesRecordPayloads() throws {
        let path = try Self.writeLog([
            #"{"v":1,"type":"proxy_start","proxy":"p","listen":"127.0.0.1:1","upstream":"127.0.0.1:2","mono":1,"framing":"http"}"#,
            #"{"v":1,"type":"message","proxy":"p","conn":0,"direction":"upstream","unit":0,"bytes":18,"mono":2,"method":"GET","path":"/a"}"#,
        ])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: InvalidInputError.self) { try RecordedRequests.load(path: path) }
        #expect(error?.description.contains("--record-payloads") == true)
        #expect(error?.exitStatus == 2)
    }

    @Test func aLogWithoutFramingNamesFraming() throws {
        let path = try Self.writeLog([
            #"{"v":1,"type":"proxy_start","proxy":"p","listen":"127.0.0.1:1","upstream":"127.0.0.1:2","mono":1}"#,
        ])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: InvalidInputError.self) { try RecordedRequests.load(path: path) }
        #expect(error?.description.contains("--framing") == true)
    }

    @Test func theFirstRequestWithAPayloadRepresentsItsOperation() throws {
        let first = Data("POST /charges/17 HTTP/1.1\r\nContent-Length: 0\r\n\r\n".utf8).base64EncodedString()
        let second = Data("POST /charges/42 HTTP/1.1\r\nContent-Length: 0\r\n\r\n".utf8).base64EncodedString()
        let path = try Self.writeLog([
            #"{"v":1,"type":"proxy_start","proxy":"p","listen":"127.0.0.1:1","upstream":"127.0.0.1:2","mono":1,"framing":"http"}"#,
            #"{"v":1,"type":"message","proxy":"p","conn":0,"direction":"upstream","unit":0,"bytes":1,"mono":2,"method":"POST","path":"/charges/17"}"#,
            #"{"v":1,"type":"message","proxy":"p","conn":0,"direction":"upstream","unit":1,"bytes":1,"mono":3,"method":"POST","path":"/charges/17","payload":"\#(first)"}"#,
            #"{"v":1,"type":"message","proxy":"p","conn":0,"direction":"upstream","unit":2,"bytes":1,"mono":4,"method":"POST","path":"/charges/42","payload":"\#(second)"}"#,
        ])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let recorded = try RecordedRequests.load(path: path)
        #expect(recorded.requests.map(\.operation) == ["POST /charges/{id}"])
        #expect(recorded.requests.first?.source == "\(path):3")
        #expect(recorded.messages == 3)
    }
}
