#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Client addresses a rule selects: one address (`10.0.0.7`, `::1`) or a CIDR block
/// (`10.0.0.0/8`, `fd00::/8`). Several may be given; any one holding is enough.
package struct AddressMatch: Sendable, Equatable, CustomStringConvertible {
    package struct Block: Sendable, Equatable, CustomStringConvertible {
        /// 4 bytes for IPv4, 16 for IPv6.
        package var bytes: [UInt8]
        package var prefix: Int
        package var text: String

        package var description: String { self.text }

        /// Parses `ADDRESS` or `ADDRESS/PREFIX`; nil when it is neither.
        package init?(_ text: String) {
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let bytes = AddressMatch.parseAddress(String(parts[0])) else { return nil }
            let bits = bytes.count * 8
            var prefix = bits
            if parts.count == 2 {
                guard let value = Int(parts[1]), (0...bits).contains(value) else { return nil }
                prefix = value
            }
            self.bytes = bytes
            self.prefix = prefix
            self.text = text
        }

        package func contains(_ address: [UInt8]) -> Bool {
            guard address.count == self.bytes.count else { return false }
            var remaining = self.prefix
            for index in 0..<address.count where remaining > 0 {
                let take = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
                if address[index] & mask != self.bytes[index] & mask { return false }
                remaining -= take
            }
            return true
        }
    }

    package var blocks: [Block]

    package init(blocks: [Block]) {
        self.blocks = blocks
    }

    package var description: String {
        self.blocks.map(\.text).joined(separator: ", ")
    }

    /// `address` is `HOST`, `HOST:PORT` or `[V6]:PORT`, as events print clients.
    package func contains(_ address: String) -> Bool {
        guard let bytes = Self.parseAddress(Self.stripPort(address)) else { return false }
        return self.blocks.contains { $0.contains(bytes) }
    }

    static func stripPort(_ text: String) -> String {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            return String(text[text.index(after: text.startIndex)..<close])
        }
        if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            return String(text[..<colon])
        }
        return text
    }

    /// The address's bytes, through `inet_pton`; nil when it is not a literal address.
    static func parseAddress(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}
