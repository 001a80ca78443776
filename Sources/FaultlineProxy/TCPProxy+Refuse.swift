import FaultlineCore
import NIOCore

extension TCPProxy {
    /// Applies a `refuse` rule to a just-accepted client, before any upstream is dialled.
    /// Returns true when the connection was turned away.
    func refuse(_ client: any Channel, ordinal: UInt64, proxyStart: NIODeadline) -> Bool {
        guard self.mayFault else { return false }
        let version = self.plan.current
        let now = client.eventLoop.now
        let address = client.remoteAddress?.hostPortText
        let elapsed = FaultConnection.duration(now - proxyStart)
        guard
            let decision = version.plan.admission(
                connection: ordinal, client: address, sinceProxyStart: elapsed, version: version.number
            )
        else { return false }
        var event = decision.event(proxy: self.configuration.name, connection: ordinal, mono: now.uptimeNanoseconds)
        event.client = address
        self.events.record(event)
        guard case .refuse(let mode) = decision.effect else { return false }
        switch mode {
        case .reset:
            client.resetAndClose()
        case .close:
            // FIN at once, then drain until the client finishes (see DrainHandler).
            client.close(mode: .output, promise: nil)
            try? client.pipeline.syncOperations.addHandler(DrainHandler(limit: .seconds(2)), position: .first)
        case .ignore:
            // Never read, never dialled: the client waits until it gives up, or the
            // proxy's shutdown closes it. Called from `channelActive`, before swift-nio
            // would start reading.
            try? client.syncOptions?.setOption(.autoRead, value: false)
        }
        return true
    }
}
