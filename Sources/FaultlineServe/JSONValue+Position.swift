import Foundation

/// Where a value stands in the text it was parsed from: `JSONValue` keeps no positions,
/// so a file's reader that wants to say `FILE:LINE:COLUMN` for its second entry's first
/// toxic finds it again in the text.
extension JSONValue {
    /// One step down into a value: an array's element, or an object's member.
    package enum PathStep: Sendable, Equatable {
        case index(Int)
        case key(String)
    }

    /// The line and column (from 1) where the value at `path` starts in `data`, which
    /// must parse as JSON; nil when there is no such value. A key is matched as written
    /// in the text (a key spelled with escapes is not found).
    package static func position(of path: [PathStep], in data: Data) -> (line: Int, column: Int)? {
        var scanner = PositionScanner(bytes: Array(data))
        guard let offset = scanner.find(path) else { return nil }
        return Self.lineAndColumn(of: offset, in: data)
    }
}

/// Walks valid JSON text by bytes, skipping the values it does not descend into.
private struct PositionScanner {
    let bytes: [UInt8]
    var at = 0

    mutating func find(_ path: [JSONValue.PathStep]) -> Int? {
        self.skipSpace()
        for step in path {
            guard self.at < self.bytes.count else { return nil }
            switch step {
            case .index(let wanted):
                guard self.bytes[self.at] == UInt8(ascii: "[") else { return nil }
                self.at += 1
                var index = 0
                while true {
                    self.skipSpace()
                    guard self.at < self.bytes.count, self.bytes[self.at] != UInt8(ascii: "]") else { return nil }
                    if index == wanted { break }
                    guard self.skipValue(), self.skipComma() else { return nil }
                    index += 1
                }
            case .key(let wanted):
                guard self.bytes[self.at] == UInt8(ascii: "{") else { return nil }
                self.at += 1
                while true {
                    self.skipSpace()
                    guard self.at < self.bytes.count, self.bytes[self.at] == UInt8(ascii: "\"") else { return nil }
                    let keyStart = self.at + 1
                    guard self.skipValue() else { return nil }
                    let key = self.bytes[keyStart..<(self.at - 1)]
                    self.skipSpace()
                    guard self.at < self.bytes.count, self.bytes[self.at] == UInt8(ascii: ":") else { return nil }
                    self.at += 1
                    self.skipSpace()
                    if key.elementsEqual(wanted.utf8) { break }
                    guard self.skipValue(), self.skipComma() else { return nil }
                }
            }
        }
        return self.at < self.bytes.count ? self.at : nil
    }

    mutating func skipSpace() {
        while self.at < self.bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(self.bytes[self.at]) { self.at += 1 }
    }

    /// Past the `,` after a member or element; false at the container's end.
    mutating func skipComma() -> Bool {
        self.skipSpace()
        guard self.at < self.bytes.count, self.bytes[self.at] == UInt8(ascii: ",") else { return false }
        self.at += 1
        return true
    }

    /// Past the value starting here: a string, an object or array (strings inside
    /// them skipped whole, so their brackets do not count), or a number or literal.
    mutating func skipValue() -> Bool {
        var depth = 0
        repeat {
            guard self.at < self.bytes.count else { return false }
            switch self.bytes[self.at] {
            case UInt8(ascii: "\""):
                self.at += 1
                while self.at < self.bytes.count, self.bytes[self.at] != UInt8(ascii: "\"") {
                    self.at += self.bytes[self.at] == UInt8(ascii: "\\") ? 2 : 1
                }
                self.at += 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                self.at += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                self.at += 1
            default:
                if depth == 0 {
                    while self.at < self.bytes.count, !Array(",]} \n\r\t".utf8).contains(self.bytes[self.at]) { self.at += 1 }
                } else {
                    self.at += 1
                }
            }
        } while depth > 0
        return self.at <= self.bytes.count
    }
}
