/// An HTTP head's field lines as they came, already checked by the framer: each ends
/// with `\n` or `\r\n` and has a token name, a colon, and a value without control
/// bytes. Strings are made only for the fields asked for: every message's head is
/// kept, and most of its fields are never asked for (a `String` for each field's name
/// and value was the largest part of framing an HTTP message).
package struct FieldLines: Sendable, Equatable {
    package let bytes: [UInt8]
    /// Bit n set when some field's name is n bytes long (n modulo 64): a lookup of a
    /// name no field has the length of ends without reading a line. Most lookups are of
    /// that kind (the log asks every response for `Retry-After`).
    private var nameLengths: UInt64

    /// `nameLengths`: from a parser that has just read every field's name
    /// (`nameLengthBit`); nil has them read from `bytes`.
    package init(_ bytes: [UInt8], nameLengths: UInt64? = nil) {
        self.bytes = bytes
        self.nameLengths = nameLengths ?? 0
        if nameLengths == nil {
            var lengths: UInt64 = 0
            self.forEachField { name, _ in
                lengths |= Self.nameLengthBit(name.count)
                return true
            }
            self.nameLengths = lengths
        }
    }

    /// Field lines spelling `headers` (`Name: value`, CRLF after each).
    package init(_ headers: [MessageInfo.Header]) {
        var bytes: [UInt8] = []
        for header in headers {
            bytes += Array(header.name.utf8) + Array(": ".utf8) + Array(header.value.utf8) + [0x0D, 0x0A]
        }
        self.init(bytes)
    }

    /// A field name's length as a bit of `nameLengths`.
    package static func nameLengthBit(_ length: Int) -> UInt64 {
        1 << UInt64(length & 63)
    }

    /// Every field, in order, as strings.
    package var headers: [MessageInfo.Header] {
        var headers: [MessageInfo.Header] = []
        self.forEachField { name, value in
            headers.append(MessageInfo.Header(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
            return true
        }
        return headers
    }

    /// The values of the fields named `name` (ASCII case ignored), in order.
    package func values(named name: String) -> [String] {
        var values: [String] = []
        self.forEachField(named: name) { value in
            values.append(String(decoding: value, as: UTF8.self))
            return true
        }
        return values
    }

    /// The value of the first field named `name` (ASCII case ignored), nil if none.
    package func first(named name: String) -> String? {
        var found: String?
        self.forEachField(named: name) { value in
            found = String(decoding: value, as: UTF8.self)
            return false
        }
        return found
    }

    private func forEachField(named name: String, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) {
        guard self.nameLengths & Self.nameLengthBit(name.utf8.count) != 0 else { return }
        var wanted = name
        wanted.withUTF8 { wanted in
            self.forEachField { fieldName, value in
                guard fieldName.count == wanted.count, zip(fieldName, wanted).allSatisfy(MessageInfo.Header.sameIgnoringASCIICase)
                else { return true }
                return body(value)
            }
        }
    }

    /// Calls `body` with each field's name and value (spaces and tabs around it
    /// trimmed), in order, until it returns false.
    private func forEachField(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool) {
        self.bytes.withUnsafeBufferPointer { bytes in
            var lineStart = 0
            while lineStart < bytes.count {
                var lineEnd = bytes[lineStart...].firstIndex(of: 0x0A) ?? bytes.count
                let next = lineEnd + 1
                if lineEnd > lineStart, bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                defer { lineStart = next }
                guard let colon = bytes[lineStart..<lineEnd].firstIndex(of: UInt8(ascii: ":")) else { continue }
                var valueStart = colon + 1
                var valueEnd = lineEnd
                while valueStart < valueEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
                while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
                let name = UnsafeBufferPointer(rebasing: bytes[lineStart..<colon])
                let value = UnsafeBufferPointer(rebasing: bytes[valueStart..<valueEnd])
                if !body(name, value) { return }
            }
        }
    }
}
