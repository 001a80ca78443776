import Foundation

/// SR-03's change to a request body: one top-level JSON field, edited in place so every
/// other byte of the body stays as recorded.
///
///     {"amount": 10, "memo": "rent"}   →   {"amount": 11, "memo": "rent"}
///
/// A number field is preferred (incremented by one), then a string (`-changed`
/// appended), each the first by name.
struct JSONFieldChange {
    var field: String
    var old: String
    var new: String
    var body: [UInt8]

    var description: String { "\(self.field) \(self.old) → \(self.new)" }

    static func first(in body: [UInt8]) -> JSONFieldChange? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        let text = String(decoding: body, as: UTF8.self)
        let numbers = object.keys.sorted().filter { key in
            guard let number = object[key] as? NSNumber, !(object[key] is String) else { return false }
            return number.stringValue != "true" && number.stringValue != "false"
        }
        let strings = object.keys.sorted().filter { object[$0] is String }
        for key in numbers + strings {
            if let change = Self.change(key, in: text) { return change }
        }
        return nil
    }

    /// Finds `"key": literal` and replaces the literal.
    private static func change(_ key: String, in text: String) -> JSONFieldChange? {
        var searchFrom = text.startIndex
        while let found = text.range(of: "\"\(key)\"", range: searchFrom..<text.endIndex) {
            searchFrom = found.upperBound
            var index = found.upperBound
            while index < text.endIndex, text[index].isWhitespace { index = text.index(after: index) }
            guard index < text.endIndex, text[index] == ":" else { continue }
            index = text.index(after: index)
            while index < text.endIndex, text[index].isWhitespace { index = text.index(after: index) }
            guard index < text.endIndex else { return nil }
            let start = index
            let replacement: String
            if text[start] == "\"" {
                var end = text.index(after: start)
                while end < text.endIndex, text[end] != "\"" {
                    if text[end] == "\\" { end = text.index(after: end) }
                    if end < text.endIndex { end = text.index(after: end) }
                }
                guard end < text.endIndex else { return nil }
                let old = String(text[start...end])
                replacement = String(old.dropLast()) + "-changed\""
                return Self.make(key, text, start..<text.index(after: end), old, replacement)
            }
            var end = start
            while end < text.endIndex, "-+.0123456789eE".contains(text[end]) { end = text.index(after: end) }
            let old = String(text[start..<end])
            guard let value = Double(old) else { return nil }
            if let integer = Int(old) {
                replacement = String(integer + 1)
            } else {
                replacement = String(value + 1)
            }
            return Self.make(key, text, start..<end, old, replacement)
        }
        return nil
    }

    private static func make(_ key: String, _ text: String, _ range: Range<String.Index>, _ old: String, _ new: String) -> JSONFieldChange {
        var changed = text
        changed.replaceSubrange(range, with: new)
        return JSONFieldChange(field: key, old: old, new: new, body: Array(changed.utf8))
    }

    /// Whether a JSON reply body carries the changed field with its new value.
    func appears(in reply: [UInt8]) -> Bool {
        guard let object = try? JSONSerialization.jsonObject(with: Data(reply)) as? [String: Any], let value = object[self.field] else {
            return false
        }
        let newValue = try? JSONSerialization.jsonObject(with: Data(self.new.utf8), options: [.fragmentsAllowed])
        if let number = value as? NSNumber, let expected = newValue as? NSNumber { return number.doubleValue == expected.doubleValue }
        if let string = value as? String, let expected = newValue as? String { return string == expected }
        return false
    }
}
