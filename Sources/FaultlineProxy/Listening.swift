import FaultlineCore
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What both proxies do to open their listening socket: resolve `--listen`, and turn a
/// failed bind into the error the user reads, with the exit status it deserves.
enum Listening {
    /// - Throws: `InvalidInputError` (exit 2) for a host that does not resolve.
    static func address(_ listen: HostPort) throws -> SocketAddress {
        do {
            return try SocketAddress.makeAddressResolvingHost(listen.host, port: listen.port)
        } catch {
            throw InvalidInputError("--listen \(listen): cannot resolve host '\(listen.host)'")
        }
    }

    /// A port in use or a refused bind is a runtime failure (exit 3); an address no
    /// interface has is bad input (exit 2).
    static func failure(_ error: IOError, listen: HostPort) -> any Error {
        switch error.errnoCode {
        case EADDRINUSE:
            RuntimeFailure("--listen \(listen): address already in use")
        case EACCES:
            RuntimeFailure("--listen \(listen): permission denied (ports below 1024 need privileges)")
        case EADDRNOTAVAIL:
            InvalidInputError("--listen \(listen): no interface on this machine has that address")
        default:
            RuntimeFailure("--listen \(listen): cannot listen: \(error)")
        }
    }
}
