import FaultlineCore
import Foundation

/// Reads an event log (JSON Lines) back into `Event`s, strictly.
///
/// Every line must be one JSON object of a format version this build knows; blank lines
/// are allowed. The first bad line stops the read with an `EventLogError` naming
/// `FILE:LINE` and what is wrong there, because a checker that skipped lines could pass a
/// run it never saw.
public enum EventLogReader {
    /// Reads and parses the file at `path`.
    public static func read(path: String) throws -> [Event] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file"
            throw EventLogError(file: path, line: nil, message: reason)
        }
        return try Self.parse(data, file: path)
    }

    /// Parses log text; `file` only names it in errors.
    public static func parse(_ data: Data, file: String) throws -> [Event] {
        let decoder = JSONDecoder()
        var events: [Event] = []
        var lineNumber = 0
        let bytes = [UInt8](data)
        var start = 0
        while start < bytes.count {
            lineNumber += 1
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            let complete = end < bytes.count
            let line = bytes[start..<end]
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            events.append(try Self.parseLine(Data(line), number: lineNumber, complete: complete, file: file, decoder: decoder))
        }
        return events
    }

    private struct VersionProbe: Decodable {
        var v: Int?
        var type: String?
    }

    private static func parseLine(_ line: Data, number: Int, complete: Bool, file: String, decoder: JSONDecoder) throws -> Event {
        func fail(_ message: String) -> EventLogError {
            EventLogError(file: file, line: number, message: message)
        }
        let probe: VersionProbe
        do {
            probe = try decoder.decode(VersionProbe.self, from: line)
        } catch {
            if !complete {
                throw fail("the last line is cut off (was the log still being written?)")
            }
            throw fail("not a JSON object: \(Self.preview(line))")
        }
        guard let version = probe.v else {
            throw fail("no format version \"v\"; is this a faultline event log?")
        }
        guard version <= Event.formatVersion, version >= 1 else {
            throw fail("format version \(version) is not supported (this build reads versions 1 to \(Event.formatVersion))")
        }
        guard let type = probe.type else {
            throw fail("no event \"type\"")
        }
        do {
            return try decoder.decode(Event.self, from: line)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.map(\.stringValue) == ["type"] {
            throw fail("unknown event type '\(type)'")
        } catch let error as DecodingError {
            throw fail(Self.describe(error))
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "field '\(path(context.codingPath))' should be \(Self.typeName(type))"
        case .valueNotFound(let type, let context):
            return "field '\(path(context.codingPath))' is null; it should be \(Self.typeName(type))"
        case .keyNotFound(let key, _):
            return "missing field '\(key.stringValue)'"
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            return field.isEmpty ? "not valid JSON" : "field '\(field)' has a value that is not allowed"
        @unknown default:
            return "cannot be read as an event"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is UInt64.Type: "an integer"
        default: "a \(type)"
        }
    }

    private static func preview(_ line: Data) -> String {
        let text = String(decoding: line.prefix(60), as: UTF8.self)
        return line.count > 60 ? "'\(text)…'" : "'\(text)'"
    }
}
