import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IP address and port as packet headers carry them.
package struct IPEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 (IPv6), network order.
    package var address: [UInt8]
    package var port: UInt16

    package init(address: [UInt8], port: UInt16) {
        self.address = address
        self.port = port
    }

    /// The endpoint of an IPv4 or IPv6 socket address; nil for Unix sockets.
    package init?(_ socketAddress: SocketAddress?) {
        guard let socketAddress, let text = socketAddress.ipAddress, let port = socketAddress.port else { return nil }
        let family: Int32
        var bytes: [UInt8]
        switch socketAddress.protocol {
        case .inet:
            family = AF_INET
            bytes = [UInt8](repeating: 0, count: 4)
        case .inet6:
            family = AF_INET6
            bytes = [UInt8](repeating: 0, count: 16)
        default:
            return nil
        }
        guard inet_pton(family, text, &bytes) == 1 else { return nil }
        self.address = bytes
        self.port = UInt16(truncatingIfNeeded: port)
    }

    package var isIPv6: Bool { self.address.count == 16 }

    /// `127.0.0.1:7000` or `[::1]:7000`.
    package var description: String {
        if self.isIPv6 {
            var groups: [String] = []
            for index in stride(from: 0, to: 16, by: 2) {
                groups.append(String(UInt16(self.address[index]) << 8 | UInt16(self.address[index + 1]), radix: 16))
            }
            return "[\(groups.joined(separator: ":"))]:\(self.port)"
        }
        return self.address.map(String.init).joined(separator: ".") + ":\(self.port)"
    }
}
