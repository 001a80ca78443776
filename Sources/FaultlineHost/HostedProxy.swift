import FaultlineCore
import FaultlineProxy
import Logging
import NIOCore

/// A proxy the host started, with its records: where it listens, the seed it runs
/// with, what it has done so far, and how to stop it cleanly.
public final class HostedProxy: Sendable {
    enum Engine: Sendable {
        case tcp(TCPProxy)
        case udp(UDPProxy)
    }

    public let spec: ProxySpec
    /// The address it really listens on (the real port when port 0 was asked for).
    public let address: HostPort
    /// The seed every fault decision derives from.
    public let seed: UInt64
    /// Connections, messages and faults so far, when the spec asked for them.
    public let tally: EventTally?
    let engine: Engine
    let records: ProxyRecords
    let logger: Logger

    init(spec: ProxySpec, address: HostPort, seed: UInt64, tally: EventTally?, engine: Engine, records: ProxyRecords, logger: Logger) {
        self.spec = spec
        self.address = address
        self.seed = seed
        self.tally = tally
        self.engine = engine
        self.records = records
        self.logger = logger
    }

    public var name: String { self.spec.name }

    /// Open TCP connections, or UDP sessions.
    public var open: Int {
        switch self.engine {
        case .tcp(let proxy): proxy.openConnections
        case .udp(let proxy): proxy.openSessions
        }
    }

    /// Puts `profile` in force on the running proxy (nil: no faults) and returns the new
    /// plan's number. New data on open connections follows it at once; no connection is
    /// dropped unless a rule says so. The change is a `plan_change` event in the log.
    ///
    /// - Throws: `ProfileError` or `InvalidInputError` (exit 2) for a profile this
    ///   proxy cannot carry; the plan in force is then unchanged.
    @discardableResult
    public func apply(_ profile: Profile?) async throws -> UInt64 {
        switch self.engine {
        case .tcp(let proxy):
            return try await proxy.apply(profile ?? .none).number
        case .udp(let proxy):
            return try proxy.apply(profile ?? .none).number
        }
    }

    /// Stops accepting, lets open TCP connections finish for `grace` (UDP sessions
    /// close at once), closes the rest, then drains and closes the log and capture so
    /// both files are complete.
    public func stop(grace: Duration) async throws {
        switch self.engine {
        case .tcp(let proxy): await proxy.shutdown(grace: .nanoseconds(grace.nanoseconds))
        case .udp(let proxy): await proxy.shutdown()
        }
        try await self.records.close(logger: self.logger)
    }
}
