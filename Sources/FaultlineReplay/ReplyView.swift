import Foundation

/// What replay compares in a reply, after removing what legitimately differs between
/// two answers to the same request.
///
/// Headers are never compared: `Date`, `X-Request-Id`, `Server-Timing`, `Age`, `ETag`
/// (a replay may recompute it), `Idempotent-Replayed` (a replay marker by design) and
/// the like change from one answer to the next. A JSON body loses its volatile fields
/// (`VolatileFields.names` at any depth, and every `--ignore-field` path) and is compared
/// with its keys sorted; any other body is compared byte for byte. A RESP reply is
/// compared as its value.
struct ReplyView: Equatable {
    var status: Int?
    /// The body (JSON canonical, volatile fields gone) or the RESP value as text.
    var body: String
    /// The created or addressed resource: `Location` and the JSON body's `id`
    /// (`ResourceName` says when two replies name the same one).
    var resource: ResourceName?
    /// Every number in `body`, in order: counters and balances that reveal an effect.
    var numbers: [Double]
    /// `body` for evidence and progress, on one line and in `ByteText`'s rendering
    /// (control and non-ASCII bytes as `\xNN`), as request rows show requests.
    var shown: String

    init(_ reply: ReplayReply, wire: ReplayProtocol, ignoring paths: [[String]]) {
        self.status = reply.status
        switch wire {
        case .http:
            let location = reply.header("Location")
            if let json = try? JSONSerialization.jsonObject(with: Data(reply.body), options: [.fragmentsAllowed]) {
                let cleaned = VolatileFields.remove(from: json, paths: paths)
                self.body = VolatileFields.canonical(cleaned)
                self.numbers = VolatileFields.numbers(in: cleaned)
                self.resource = ResourceName(location: location, id: VolatileFields.id(of: cleaned))
                self.shown = ByteText.oneLine(Array(self.body.utf8))
            } else {
                self.body = String(decoding: reply.body, as: UTF8.self)
                self.numbers = Self.numbers(in: self.body)
                self.resource = ResourceName(location: location, id: nil)
                self.shown = ByteText.oneLine(reply.body)
            }
        case .line:
            self.body = String(decoding: reply.bytes, as: UTF8.self).trimmingSuffixNewline()
            self.numbers = Self.numbers(in: self.body)
            self.resource = nil
            self.shown = ByteText.oneLine(reply.bytes)
        case .resp:
            self.body = RESPValueText.text(reply.bytes)
            self.numbers = Self.numbers(in: self.body)
            self.resource = nil
            self.shown = ByteText.oneLine(Array(self.body.utf8))
        }
    }

    static func numbers(in text: String) -> [Double] {
        var out: [Double] = []
        var current = ""
        for character in text + " " {
            if character.isASCII, character.isNumber || (character == "-" && current.isEmpty) || (character == "." && !current.isEmpty) {
                current.append(character)
            } else {
                if let value = Double(current) { out.append(value) }
                current = ""
            }
        }
        return out
    }
}

/// Fields that differ between two answers to the same request without meaning a
/// different outcome.
enum VolatileFields {
    static let names: Set<String> = [
        "created_at", "createdat", "updated_at", "updatedat", "timestamp", "time", "date", "now",
        "request_id", "requestid", "trace_id", "traceid", "server_time", "served_at", "replayed", "idempotent_replayed",
    ]

    /// `$.a.b` → `["a", "b"]`; nil when the path is not of that form.
    static func parsePath(_ text: String) -> [String]? {
        guard text.hasPrefix("$.") else { return nil }
        let parts = text.dropFirst(2).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        return parts.contains(where: \.isEmpty) ? nil : parts
    }

    static func remove(from json: Any, paths: [[String]]) -> Any {
        var value = Self.removeNamed(json)
        for path in paths { value = Self.remove(path[...], from: value) }
        return value
    }

    private static func removeNamed(_ json: Any) -> Any {
        if let object = json as? [String: Any] {
            var out: [String: Any] = [:]
            for (key, value) in object where !Self.names.contains(key.lowercased()) { out[key] = Self.removeNamed(value) }
            return out
        }
        if let array = json as? [Any] { return array.map(Self.removeNamed) }
        return json
    }

    private static func remove(_ path: ArraySlice<String>, from json: Any) -> Any {
        guard let first = path.first else { return json }
        if first.hasSuffix("[*]"), var object = json as? [String: Any] {
            // `items[*]`: every element of the array `items`.
            let name = String(first.dropLast(3))
            if let array = object[name] as? [Any] {
                object[name] = path.count == 1 ? [Any]() : array.map { Self.remove(path.dropFirst(), from: $0) }
            }
            return object
        }
        if var object = json as? [String: Any] {
            if path.count == 1 {
                object[first] = nil
            } else if let inner = object[first] {
                object[first] = Self.remove(path.dropFirst(), from: inner)
            }
            return object
        }
        if let array = json as? [Any], first == "*" {
            return array.map { Self.remove(path.dropFirst(), from: $0) }
        }
        return json
    }

    static func canonical(_ json: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .fragmentsAllowed]) else {
            return "\(json)"
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func numbers(in json: Any) -> [Double] {
        if let object = json as? [String: Any] {
            return object.keys.sorted().flatMap { Self.numbers(in: object[$0]!) }
        }
        if let array = json as? [Any] { return array.flatMap(Self.numbers(in:)) }
        if let number = json as? NSNumber {
            return [number.doubleValue]
        }
        return []
    }

    static func id(of json: Any) -> String? {
        guard let object = json as? [String: Any] else { return nil }
        for key in ["id", "ID", "Id", "uuid"] {
            if let value = object[key] {
                if let string = value as? String { return string }
                if let number = value as? NSNumber { return number.stringValue }
            }
        }
        return nil
    }
}

/// A RESP reply's value as text, without the protocol's type marks and lengths:
/// `:5\r\n` → `5`, `$2\r\n10\r\n` → `10`, `$-1\r\n` → `(nil)`, arrays joined by spaces.
enum RESPValueText {
    static func text(_ bytes: [UInt8]) -> String {
        var index = 0
        return Self.value(bytes, &index)
    }

    private static func line(_ bytes: [UInt8], _ index: inout Int) -> String {
        var end = index
        while end + 1 < bytes.count, !(bytes[end] == 13 && bytes[end + 1] == 10) { end += 1 }
        let text = String(decoding: bytes[min(index, bytes.count)..<min(end, bytes.count)], as: UTF8.self)
        index = end + 2
        return text
    }

    private static func value(_ bytes: [UInt8], _ index: inout Int) -> String {
        guard index < bytes.count else { return "" }
        let type = bytes[index]
        index += 1
        let header = Self.line(bytes, &index)
        switch type {
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            guard let length = Int(header), length >= 0 else { return "(nil)" }
            let end = min(index + length, bytes.count)
            let text = String(decoding: bytes[min(index, bytes.count)..<end], as: UTF8.self)
            index = end + 2
            return text
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"):
            guard let count = Int(header), count >= 0 else { return "(nil)" }
            let items = type == UInt8(ascii: "%") ? count * 2 : count
            return (0..<items).map { _ in Self.value(bytes, &index) }.joined(separator: " ")
        case UInt8(ascii: "_"):
            return "(nil)"
        default:
            return header
        }
    }
}
