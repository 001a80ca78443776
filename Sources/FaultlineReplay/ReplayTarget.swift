import FaultlineCore

/// Where `faultline check idempotency` sends its requests: one service, named on the
/// command line, and nothing else.
public struct ReplayTarget: Sendable, Equatable {
    public var address: HostPort

    public init(address: HostPort) {
        self.address = address
    }
}
