import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// This test process's own TCP sockets (IPv4, connected), read from `/proc/self/fd`:
/// the proxy under test runs in the process, so its sockets can be asked directly
/// what the kernel holds for them.
enum OwnSockets {
    struct Socket: CustomStringConvertible {
        var fd: Int32
        var local: Int
        var peer: Int
        var description: String { "fd \(self.fd) \(self.local)->\(self.peer)" }
    }

    static func tcp() -> [Socket] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { name in
            guard let fd = Int32(name), let local = Self.port(fd, peer: false), let peer = Self.port(fd, peer: true) else {
                return nil
            }
            return Socket(fd: fd, local: local, peer: peer)
        }
    }

    /// The socket of this process on `local` connected to `peer`.
    static func one(local: Int, peer: Int) -> Socket? {
        let found = Self.tcp().filter { $0.local == local && $0.peer == peer }
        return found.count == 1 ? found[0] : nil
    }

    private static func port(_ fd: Int32, peer: Bool) -> Int? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)
            }
        }
        guard result == 0, address.sin_family == sa_family_t(AF_INET) else { return nil }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// TCP_NODELAY as the socket has it (nil: not asked).
    static func noDelay(_ fd: Int32) -> Int32? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &value, &length) == 0 ? value : nil
    }

    /// Bytes the socket has received and nobody has read yet (a peek, which leaves them).
    static func unread(_ fd: Int32) -> Int {
        var buffer = [UInt8](repeating: 0, count: 65536)
        return max(0, recv(fd, &buffer, buffer.count, Int32(MSG_PEEK | MSG_DONTWAIT)))
    }
}
