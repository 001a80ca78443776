import NIOCore
import Synchronization

/// Numbers accepted connections in the order the listening socket accepted them.
///
/// Sits in the listener's pipeline, before NIO's accept handler, so it sees each new
/// channel on the listener's event loop in accept order. The child initializer runs
/// later on the child's own event loop, and two loops can take their connections up in
/// either order; numbering there let two clients that connected one after the other
/// swap ordinals, and with them the faults a seeded profile gives them.
final class AcceptOrder: ChannelInboundHandler, Sendable {
    typealias InboundIn = any Channel

    private struct State {
        var next: UInt64 = 0
        var assigned: [ObjectIdentifier: UInt64] = [:]
    }

    private let state = Mutex(State())

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = Self.unwrapInboundIn(data)
        self.state.withLock { state in
            state.assigned[ObjectIdentifier(child)] = state.next
            state.next += 1
        }
        context.fireChannelRead(data)
    }

    /// The ordinal given to `channel` when it was accepted (asked once per channel). A
    /// channel the listener never saw (none in practice) gets the next number.
    func ordinal(of channel: any Channel) -> UInt64 {
        self.state.withLock { state in
            if let ordinal = state.assigned.removeValue(forKey: ObjectIdentifier(channel)) { return ordinal }
            defer { state.next += 1 }
            return state.next
        }
    }
}
