import FaultlineCore

/// Where `faultline check idempotency` sends its requests: one service, named on the
/// command line, and nothing else. Probes are paths or commands sent to it, the
/// lost-reply experiment's proxy forwards to it, and no address from the log (its
/// `upstream`, a `Host` header, an absolute URL) is ever dialled.
package struct ReplayTarget: Sendable, Equatable {
    package var address: HostPort

    package init(address: HostPort) {
        self.address = address
    }
}
