import FaultlineCore
import NIOCore

/// The cutting of one proxied connection: what a sever does to its sockets, carried out
/// at once or, when the fault fired before the upstream was connected, as soon as it is;
/// and the timers that cut later (a plan's timed severs, a hang's close).
///
/// `FaultConnection` decides and records; this only acts on channels and timers. Both
/// channels of a connection live on one event loop, so it is loop-bound and needs no
/// locks.
final class ConnectionCutter {
    /// The client's channel, known from the accept, and the upstream's once dialled.
    ///
    /// Strong, not weak: a weak reference gives the channel a side table, and every
    /// retain and release of it then takes the runtime's slow path (8 % of the proxy's
    /// CPU under a rule that fires on every chunk). The cycle through the channels'
    /// pipelines ends when they close (their handlers, which hold this, are removed);
    /// once both have closed the references are dropped as well.
    private(set) var client: (any Channel)?
    private(set) var upstream: (any Channel)?
    /// Cuts that came before the upstream was connected: a client that sends and
    /// half-closes at once is read before then (NIO reads to the end of input when it
    /// sees the FIN), so a fault can fire before `bridged`.
    private var untilBridged: [() -> Void] = []
    private(set) var isBridged = false
    /// The upstream's dial failed: cuts act on the client alone, at once.
    private var upstreamFailed = false
    /// Both channels closed: nothing more is scheduled.
    private var closed = false
    /// Timed severs of the plan in force (re-armed on a plan change), and the closes of
    /// hangs (cancelled only when the hang's rule leaves the plan).
    private var timers: [Scheduled<Void>] = []
    private var hangTimers: [Scheduled<Void>] = []

    init(client: any Channel) {
        self.client = client
    }

    /// Both channels exist: cuts waiting for them happen now, and timers stop when both
    /// have closed.
    func bridged(client: any Channel, upstream: any Channel) {
        self.client = client
        self.upstream = upstream
        self.isBridged = true
        let waiting = self.untilBridged
        self.untilBridged = []
        waiting.forEach { $0() }
        client.closeFuture.assumeIsolated().whenComplete { _ in
            upstream.closeFuture.assumeIsolated().whenComplete { _ in
                self.cancelTimers()
                self.cancelHangs()
                self.closed = true
                self.client = nil
                self.upstream = nil
            }
        }
    }

    /// The upstream's dial failed: cuts that waited for it, and later ones, act on the
    /// client alone (a fault logged as a reset still resets the client).
    func dialFailed() {
        self.upstreamFailed = true
        let waiting = self.untilBridged
        self.untilBridged = []
        waiting.forEach { $0() }
    }

    /// Cuts the sockets. `reset` and `fin` end both sides (on `fin`, the `WriteLedger`
    /// at each pipeline's head sends what was forwarded first); `halfClose` ends only
    /// `direction`: its destination reads EOF, the other way keeps flowing.
    func cut(_ mode: SeverMode, direction: Event.Direction) {
        self.whenBridged {
            switch mode {
            case .reset:
                self.client?.resetAndClose()
                self.upstream?.resetAndClose()
            case .fin:
                for channel in [self.client, self.upstream].compactMap({ $0 }) {
                    channel.close(mode: .output).assumeIsolated().whenComplete { _ in
                        channel.close(promise: nil)
                    }
                }
            case .halfClose:
                let destination = direction == .upstream ? self.upstream : self.client
                destination?.close(mode: .output, promise: nil)
            }
        }
    }

    /// Runs `action` now if both channels are known, else as soon as the upstream is
    /// connected (the connection is then logged as opened first, and closed after).
    private func whenBridged(_ action: @escaping () -> Void) {
        if self.isBridged || self.upstreamFailed {
            action()
        } else {
            self.untilBridged.append(action)
        }
    }

    /// Schedules a timed sever of the plan in force; nothing once the connection closed.
    func schedule(at deadline: NIODeadline, _ action: @escaping () -> Void) {
        guard !self.closed, let loop = self.client?.eventLoop else { return }
        self.timers.append(loop.assumeIsolated().scheduleTask(deadline: deadline, action))
    }

    /// Schedules a hang's close.
    func scheduleHang(in amount: Duration, on loop: any EventLoop, _ action: @escaping () -> Void) {
        self.hangTimers.append(loop.assumeIsolated().scheduleTask(in: .nanoseconds(amount.nanoseconds), action))
    }

    /// The plan changed: its timed severs are armed again.
    func cancelTimers() {
        self.timers.forEach { $0.cancel() }
        self.timers = []
    }

    /// The hang's rule left the plan: its close no longer comes.
    func cancelHangs() {
        self.hangTimers.forEach { $0.cancel() }
        self.hangTimers = []
    }
}

@available(*, unavailable)
extension ConnectionCutter: Sendable {}
