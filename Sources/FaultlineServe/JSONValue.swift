import Foundation

/// A JSON value whose objects keep their keys in order, so responses list fields the way
/// Toxiproxy does (`attributes`, `name`, `type`, `stream`, `toxicity`) and the way
/// docs/api.md shows them.
///
/// Parsing goes through Foundation's `JSONDecoder` (which keeps integers and fractions
/// apart); writing is done here, because Foundation's encoder does not promise an order.
package indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    /// A single-precision number, written in its shortest form (`0.1`, not
    /// `0.10000000149011612`), as Go writes Toxiproxy's float32 `toxicity`.
    case float(Float)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    package static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.float(let a), .float(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.map(\.0) == b.map(\.0) && a.map(\.1) == b.map(\.1)
        default: false
        }
    }

    /// The member named `key` of an object; nil for anything else or a missing key.
    package subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    package var objectMembers: [(String, JSONValue)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    package var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    package var boolValue: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }

    /// Integers, and fractions too (as a Double).
    package var doubleValue: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        case .float(let value): Double("\(value)") ?? Double(value)
        default: nil
        }
    }

    /// The JSON type's name, for messages ("expected a string, got a number").
    package var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .number, .float: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    // MARK: Parsing

    /// Parses `data` as one JSON value.
    ///
    /// - Throws: `JSONValue.ParseError` whose description says what is wrong, in words
    ///   short enough for an API error (`unexpected end of input`).
    package static func parse(_ data: Data) throws(ParseError) -> JSONValue {
        let trimmed = data.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        if trimmed.isEmpty { throw ParseError(message: "unexpected end of JSON input") }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(Decoded.self, from: data).value
        } catch let error as DecodingError {
            if let (reason, offset) = Self.failure(in: data) {
                let (line, column) = Self.lineAndColumn(of: offset, in: data)
                throw ParseError(message: "invalid JSON at line \(line), column \(column): \(reason)", line: line, column: column, reason: reason)
            }
            throw ParseError(message: Self.describe(error))
        } catch {
            throw ParseError(message: "\(error)")
        }
        if let (reason, offset) = Self.trailingComma(in: data) {
            let (line, column) = Self.lineAndColumn(of: offset, in: data)
            throw ParseError(message: "invalid JSON at line \(line), column \(column): \(reason)", line: line, column: column, reason: reason)
        }
        return value
    }

    package struct ParseError: Error, CustomStringConvertible, Sendable {
        package var message: String
        /// Where the text stops being JSON (from 1), when the parser says, and what is
        /// wrong there: a file's reader names them as `FILE:LINE:COLUMN: reason`.
        package var line: Int?
        package var column: Int?
        package var reason: String?
        package var description: String { self.message }
    }

    /// Where and why Foundation's parser stops on `data`: at the byte it names ("around
    /// character N"), or at the end for an unexpected end. (Its decoder says neither.)
    private static func failure(in data: Data) -> (reason: String, offset: Int)? {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return nil
        } catch {
            let text = "\(error)"
            guard let start = text.range(of: "NSDebugDescription=") else { return nil }
            var reason = text[start.upperBound...].trimmingCharacters(in: CharacterSet(charactersIn: "}) \""))
            if reason.hasSuffix(".") { reason.removeLast() }
            if let around = reason.range(of: " around character ") {
                guard let offset = Int(reason[around.upperBound...]) else { return nil }
                return (String(reason[..<around.lowerBound]).lowercased(), min(offset, data.count))
            }
            if reason.hasPrefix("Unexpected end of file") { return ("unexpected end of file", data.count) }
            return nil
        }
    }

    /// The comma that ends an object or array in `data`, text Foundation's parser has
    /// taken: it takes `{"a": 1,}` and `[1,]` on purpose, as a convenience
    /// (swift-corelibs-foundation#4682), and no option turns that off, but JSON has no
    /// such comma and the tools a file is also read with (jq, Go's encoding/json, which
    /// Toxiproxy uses) refuse it. Strings are stepped over whole: a comma or bracket in
    /// one is text.
    private static func trailingComma(in data: Data) -> (reason: String, offset: Int)? {
        var comma: Int?
        var inString = false
        var escaped = false
        for (offset, byte) in data.enumerated() {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: ","): comma = offset
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if let comma {
                    let what = byte == UInt8(ascii: "}") ? "an object's last member" : "an array's last element"
                    return ("a trailing comma: JSON has none after \(what)", comma)
                }
            case 0x20, 0x0A, 0x0D, 0x09: break
            case UInt8(ascii: "\""):
                inString = true
                comma = nil
            default: comma = nil
            }
        }
        return nil
    }

    /// The line and column (from 1) of byte `offset` in `data`.
    static func lineAndColumn(of offset: Int, in data: Data) -> (line: Int, column: Int) {
        let before = data.prefix(offset)
        let line = before.count { $0 == 0x0A } + 1
        let lineStart = before.lastIndex(of: 0x0A).map { $0 + 1 } ?? data.startIndex
        return (line, offset + data.startIndex - lineStart + 1)
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context):
            if let underlying = context.underlyingError {
                let text = "\(underlying)"
                if let range = text.range(of: "NSDebugDescription=") {
                    return "invalid JSON: " + text[range.upperBound...].trimmingCharacters(in: CharacterSet(charactersIn: "})\" "))
                }
                return "invalid JSON: \(text)"
            }
            return "invalid JSON: \(context.debugDescription)"
        default:
            return "invalid JSON"
        }
    }

    /// Decodable shim: tries each JSON type in turn.
    private struct Decoded: Decodable {
        var value: JSONValue

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            if let keyed = try? decoder.container(keyedBy: Key.self) {
                var members: [(String, JSONValue)] = []
                for key in keyed.allKeys {
                    members.append((key.stringValue, try keyed.decode(Decoded.self, forKey: key).value))
                }
                self.value = .object(members)
                return
            }
            if var unkeyed = try? decoder.unkeyedContainer() {
                var items: [JSONValue] = []
                while !unkeyed.isAtEnd {
                    items.append(try unkeyed.decode(Decoded.self).value)
                }
                self.value = .array(items)
                return
            }
            let single = try decoder.singleValueContainer()
            if single.decodeNil() {
                self.value = .null
            } else if let flag = try? single.decode(Bool.self) {
                self.value = .bool(flag)
            } else if let integer = try? single.decode(Int64.self) {
                self.value = .integer(integer)
            } else if let number = try? single.decode(Double.self) {
                self.value = .number(number)
            } else {
                self.value = .string(try single.decode(String.self))
            }
        }
    }

    // MARK: Writing

    /// Compact JSON text, keys in the order given.
    package var text: String {
        var out = ""
        self.write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .integer(let value): out += String(value)
        case .number(let value):
            if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
                out += String(Int64(value))
            } else if value.isFinite {
                out += "\(value)"
            } else {
                out += "null"
            }
        case .float(let value):
            if value.isFinite, value == value.rounded(), abs(value) < 1e7 {
                out += String(Int64(value))
            } else if value.isFinite {
                out += "\(value)"
            } else {
                out += "null"
            }
        case .string(let text): Self.writeString(text, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out += "," }
                Self.writeString(key, to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<": out += "\\u003c"  // as Go's encoder does, so HTML never sees a tag
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral {
    package init(stringLiteral value: String) { self = .string(value) }
    package init(booleanLiteral value: Bool) { self = .bool(value) }
    package init(integerLiteral value: Int64) { self = .integer(value) }
}
