import NIOCore

/// Takes each accepted connection up on its own event loop, numbered in the order the
/// listening socket accepted it.
///
/// Sits in the listener's pipeline before swift-nio's accept handler and takes every
/// new channel from it:
/// - **Numbering.** Each channel is numbered here, on the listener's loop, in accept
///   order. Numbered later, on the child's own loop, two clients that connected one
///   after the other could swap ordinals (two loops take their work up in either
///   order), and with them the faults a seeded profile gives them.
/// - **One hop.** swift-nio's own path moves a connection served on another loop
///   between threads three times (set it up there, back to the listener's loop, there
///   again to register it), waking a loop each time. Here the child is set up and
///   registered in one task on its loop. (With every connection on the listener's own
///   loop the hops cost nothing, which is how their share was measured: about a third
///   of a short connection's CPU.)
///
/// A child whose set-up throws is closed, never registered. swift-nio's accept handler
/// stays behind this one for what it does besides accepting (closing the listener when
/// the group quiesces).
final class Acceptor: ChannelInboundHandler {
    typealias InboundIn = any Channel

    /// Adds the child's handlers and does its bookkeeping, on the child's loop, before
    /// the child is registered (so before it is active).
    typealias SetUp = @Sendable (_ child: any Channel, _ ordinal: UInt64) throws -> Void

    private let setUp: SetUp
    private var next: UInt64 = 0

    init(setUp: @escaping SetUp) {
        self.setUp = setUp
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = Acceptor.unwrapInboundIn(data)
        let ordinal = self.next
        self.next += 1
        let setUp = self.setUp
        child.eventLoop.execute {
            do {
                try setUp(child, ordinal)
            } catch {
                child.close(promise: nil)
                return
            }
            // Registers the accepted socket with its loop and makes it active, as the
            // listener's own path would. (Unlike that path, swift-nio traps if epoll
            // refuses the registration, which takes ENOMEM or far more watches than
            // the descriptor limit allows: it does not happen in practice.)
            child._channelCore.registerAlreadyConfigured0(promise: nil)
        }
    }
}
