import FaultlineCore
import FaultlineFraming

/// What the two message stages of one framed connection share: reply pairing, the
/// framing (to write answers and read copies' replies) and
/// the dialer for copies of duplicated requests.
final class MessageSupport {
    let exchange: MessageExchange
    let framing: FramingConfiguration
    let dialer: UpstreamDialer
    /// The proxy's open connections: copies join them so shutdown waits for their
    /// replies to be recorded.
    let registry: ConnectionRegistry?

    init(framing: FramingConfiguration, dialer: UpstreamDialer, registry: ConnectionRegistry? = nil) {
        self.exchange = MessageExchange(framing: framing.kind)
        self.framing = framing
        self.dialer = dialer
        self.registry = registry
    }
}

@available(*, unavailable)
extension MessageSupport: Sendable {}
