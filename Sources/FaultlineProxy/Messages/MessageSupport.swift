import FaultlineCore
import FaultlineFraming

/// What the two message stages of one framed connection share: the connection's
/// `Exchange` (reply pairing, answers in their turn), the framing (to write answers and
/// read copies' replies) and the dialer for copies of duplicated requests.
final class MessageSupport {
    let exchange: Exchange
    let framing: FramingConfiguration
    let dialer: UpstreamDialer
    /// The proxy's open connections: copies join them so shutdown waits for their
    /// replies to be recorded.
    let registry: ConnectionRegistry?
    /// Copies of duplicated requests, on one extra upstream connection at a time.
    lazy var duplicates = DuplicateLane(framing: self.framing, dialer: self.dialer, registry: self.registry)

    init(exchange: Exchange, framing: FramingConfiguration, dialer: UpstreamDialer, registry: ConnectionRegistry? = nil) {
        self.exchange = exchange
        self.framing = framing
        self.dialer = dialer
        self.registry = registry
    }
}

@available(*, unavailable)
extension MessageSupport: Sendable {}
