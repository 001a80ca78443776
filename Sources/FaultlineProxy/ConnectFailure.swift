import FaultlineCore
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a connection could not be made, in words for logs, events and reports.
/// swift-nio's own descriptions of a failed connect read as its internals
/// ("connection reset (error set): Connection refused) (errno: 111)" for a refusal,
/// "SingleConnectionFailure(target: …)" for each address of a host name).
package enum ConnectFailure {
    package static func describe(_ error: any Error) -> String {
        switch error {
        case let error as IOError:
            return "\(String(cString: strerror(error.errnoCode))) (errno \(error.errnoCode))"
        case let error as NIOConnectionError:
            // Each address tried, with why it failed (the address only when it is not
            // what was asked for); else why the name did not resolve.
            if error.connectionErrors.count == 1, let only = error.connectionErrors.first, only.target.ipAddress == error.host {
                return Self.describe(only.error)
            }
            let attempts = error.connectionErrors.map { "\($0.target.hostPortText): \(Self.describe($0.error))" }
            if !attempts.isEmpty { return attempts.joined(separator: "; ") }
            if let failure = error.dnsAError ?? error.dnsAAAAError { return "cannot resolve \(error.host): \(failure)" }
            return "\(error.host) has no address"
        case ChannelError.connectTimeout(let amount):
            return "no answer within \(DurationText.format(.nanoseconds(amount.nanoseconds)))"
        default:
            return "\(error)"
        }
    }
}
