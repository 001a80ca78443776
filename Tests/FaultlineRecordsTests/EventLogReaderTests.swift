import FaultlineCore
import FaultlineRecords
import Foundation
import Testing

@Suite struct EventLogReaderTests {
    static let good = #"{"v":1,"type":"conn_open","proxy":"p","conn":0}"#

    /// Each bad log and the error it must give: the file, the line, what is wrong.
    static let badLogs: [(String, String)] = [
        ("\(good)\nnot json\n", "run.jsonl:2: not a JSON object: 'not json'"),
        ("\(good)\n\n{\"type\":\"conn_open\"}\n", "run.jsonl:3: no format version \"v\"; is this a faultline event log?"),
        ("{\"v\":2,\"type\":\"conn_open\"}\n", "run.jsonl:1: format version 2 is not supported (this build reads versions 1 to 1)"),
        ("{\"v\":1,\"type\":\"teleport\"}\n", "run.jsonl:1: unknown event type 'teleport'"),
        ("{\"v\":1}\n", "run.jsonl:1: no event \"type\""),
        ("{\"v\":1,\"type\":\"conn_open\",\"conn\":\"zero\"}\n", "run.jsonl:1: field 'conn' should be an integer"),
        ("{\"v\":1,\"type\":\"message\",\"direction\":\"sideways\"}\n", "run.jsonl:1: field 'direction' has a value that is not allowed"),
        ("\(good)\n{\"v\":1,\"type\":\"con", "run.jsonl:2: the last line is cut off (was the log still being written?)"),
    ]

    @Test(arguments: badLogs)
    func badLinesAreNamedByFileAndLine(text: String, message: String) {
        let error = #expect(throws: EventLogError.self) {
            _ = try EventLogReader.parse(Data(text.utf8), file: "run.jsonl")
        }
        #expect(error?.description == message)
        #expect(error?.exitStatus == 2)
    }

    @Test func blankLinesAndAMissingFinalNewlineAreFine() throws {
        let events = try EventLogReader.parse(Data("\n\(Self.good)\n  \n\(Self.good)".utf8), file: "run.jsonl")
        #expect(events.count == 2)
    }

    @Test func aMissingFileIsNamed() {
        let error = #expect(throws: EventLogError.self) {
            _ = try EventLogReader.read(path: "/nonexistent/run.jsonl")
        }
        #expect(error?.description == "/nonexistent/run.jsonl: no such file")
    }
}
