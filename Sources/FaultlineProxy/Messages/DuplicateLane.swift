import FaultlineCore
import FaultlineFraming
import NIOCore

/// Copies of one client connection's duplicated requests, on their way to the upstream
/// over at most one extra connection at a time (a `DuplicateLeg`).
///
///     copies ─▶ waiting (bounded) ─▶ DuplicateLeg (≤ `DuplicateLeg.window` awaiting replies) ═▶ upstream
///
/// The leg is dialled when the first copy comes, reused for every copy after it, and
/// dialled again only after it ended (the upstream closed it, it failed). It closes
/// once the client's connection has closed and no copy waits. So a long-lived
/// connection carrying thousands of duplicated messages costs the upstream one more
/// connection and the proxy bounded memory: copies wait, in order, while the leg is
/// being dialled or has as many awaiting replies as it takes; beyond `maxWaiting`
/// copies or `maxWaitingCost` bytes a copy is not sent at all, and says so in its
/// `duplicate_reply` event (`Outcome.notSent`). Every copy gets exactly one outcome.
///
/// Loop-bound: everything runs on the client connection's event loop, where the legs
/// are dialled too.
final class DuplicateLane {
    /// One copy to send: its request (bytes held in storage of their own), what to
    /// call once its bytes reached the socket, and what to call with how it ended.
    struct Copy {
        var request: FramedMessage
        var written: (Int) -> Void
        var finish: (FramedMessage, DuplicateLeg.Outcome) -> Void
    }

    /// Copies that may wait for the leg.
    static let maxWaiting = 4096
    /// What waiting copies may hold: their bytes plus `copyOverhead` each (at least one
    /// copy always waits, whatever its size).
    static let maxWaitingCost = 2 << 20
    /// The memory of one waiting copy beyond its bytes (its entry, the closures, the
    /// request's facts): an estimate on the safe side.
    static let copyOverhead = 512

    private let framing: FramingConfiguration
    private let dialer: UpstreamDialer
    private let registry: ConnectionRegistry?
    private var waiting = CircularBuffer<Copy>()
    private var waitingCost = 0
    private var leg: DuplicateLeg?
    private var dialing = false
    private var clientClosed = false
    /// Set by `stop`: no copy goes any more, and no leg is dialled.
    private var stopped: String?
    private var watchingClient = false
    /// The loop of the legs (the client connection's), once one was dialled.
    private var loop: (any EventLoop)?

    init(framing: FramingConfiguration, dialer: UpstreamDialer, registry: ConnectionRegistry?) {
        self.framing = framing
        self.dialer = dialer
        self.registry = registry
    }

    /// Sends a copy of `request` on the lane's leg, dialling it if none is open.
    ///
    /// - Parameters:
    ///   - client: the client's channel: once it has closed, the leg closes when idle
    ///     (nil: already gone).
    ///   - written: called with the request's size once the copy reached the socket.
    ///   - finish: called once with the request (its bytes copied apart) and how the
    ///     copy ended.
    func send(
        _ request: FramedMessage,
        on loop: any EventLoop,
        client: (any Channel)?,
        written: @escaping (Int) -> Void,
        finish: @escaping (FramedMessage, DuplicateLeg.Outcome) -> Void
    ) {
        if let reason = self.stopped {
            finish(request, .notSent("not sent: \(reason)"))
            return
        }
        self.watch(client)
        // Its own storage: a line cut from a 64 KiB read must not keep the read alive.
        var bytes = ByteBufferAllocator().buffer(capacity: request.bytes.readableBytes)
        bytes.writeImmutableBuffer(request.bytes)
        let request = request.replacingBytes(bytes)
        let cost = bytes.readableBytes + Self.copyOverhead
        guard self.waiting.isEmpty || (self.waiting.count < Self.maxWaiting && self.waitingCost + cost <= Self.maxWaitingCost) else {
            finish(request, .notSent("not sent: \(self.waiting.count) copies of this connection were already waiting for the upstream"))
            return
        }
        self.waiting.append(Copy(request: request, written: written, finish: finish))
        self.waitingCost += cost
        self.pump(on: loop)
    }

    /// The leg can take more copies (it connected, a reply came, it drained).
    func legCanTake(_ leg: DuplicateLeg) {
        guard leg === self.leg else { return }
        self.dialing = false
        self.pump(on: nil)
    }

    /// The leg ended; copies still waiting go on a new one, unless the leg was lost
    /// (not `retired`) after the client's connection had closed: then the proxy may be
    /// closing every connection (shutdown), and a new leg would hold it up, so they are
    /// not sent.
    func legEnded(_ leg: DuplicateLeg, retired: Bool) {
        guard leg === self.leg else { return }
        self.leg = nil
        self.dialing = false
        if let stopped = self.stopped {
            self.dropWaiting("not sent: \(stopped)")
            return
        }
        if self.clientClosed && !retired {
            self.dropWaiting("not sent: the client's connection had closed and the copies' connection ended")
            return
        }
        self.pump(on: nil)
    }

    /// Hands waiting copies to the leg while it takes them; dials one when none is open.
    private func pump(on loop: (any EventLoop)?) {
        if let leg = self.leg {
            while let next = self.waiting.first, leg.canTake(next.request) {
                self.waiting.removeFirst()
                self.waitingCost -= next.request.bytes.readableBytes + Self.copyOverhead
                leg.send(next)
            }
            if self.waiting.isEmpty, leg.waiting == 0, self.clientClosed, !self.dialing {
                leg.end(because: "the client's connection closed and no copy waits", retired: true)
            }
            return
        }
        guard !self.waiting.isEmpty, !self.dialing, self.stopped == nil, let loop = loop ?? self.loop else { return }
        self.dial(on: loop)
    }

    /// Ends every copy now (shutdown, or copies outlasting their client's connection):
    /// those waiting are not sent, those on the leg end (a copy written and awaiting
    /// its reply as `failed`), each with `reason`; the leg closes, and none is dialled
    /// again. A leg still being dialled closes as soon as it connects.
    func stop(because reason: String) {
        guard self.stopped == nil else { return }
        self.stopped = reason
        // Oldest first: the copies on the leg, then those waiting for it.
        self.leg?.end(because: reason)
        self.leg = nil
        self.dialing = false
        self.dropWaiting("not sent: \(reason)")
    }

    private func dial(on loop: any EventLoop) {
        self.loop = loop
        self.dialing = true
        let leg = DuplicateLeg(lane: self, framing: self.framing)
        self.leg = leg
        let bound = NIOLoopBound(leg, eventLoop: loop)
        let registry = self.registry
        self.dialer.connect(on: loop) { channel in
            try channel.pipeline.syncOperations.addHandler(bound.value)
        }.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                // Shutdown waits for the leg: the replies on it are recorded before it closes.
                if let registry {
                    let key = registry.openCopy(channel)
                    channel.closeFuture.whenComplete { _ in registry.finish(key) }
                }
            case .failure(let error):
                self.dialFailed(leg, error: error)
            }
        }
    }

    /// No connection for the copies: those waiting are not sent, each saying why.
    private func dialFailed(_ leg: DuplicateLeg, error: any Error) {
        guard leg === self.leg else { return }
        self.leg = nil
        self.dialing = false
        self.dropWaiting("cannot connect for the copy: \(ConnectFailure.describe(error))")
    }

    /// Every waiting copy ends unsent, saying why.
    private func dropWaiting(_ reason: String) {
        let copies = self.waiting
        self.waiting.removeAll()
        self.waitingCost = 0
        for copy in copies {
            copy.finish(copy.request, .notSent(reason))
        }
    }

    /// Notes when the client's connection closes: the leg then closes once idle.
    private func watch(_ client: (any Channel)?) {
        guard !self.watchingClient else { return }
        self.watchingClient = true
        guard let client else {
            self.clientClosed = true
            return
        }
        client.closeFuture.assumeIsolated().whenComplete { _ in
            self.clientClosed = true
            self.pump(on: nil)
        }
    }
}

@available(*, unavailable)
extension DuplicateLane: Sendable {}
