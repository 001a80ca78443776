import FaultlineCore
import NIOCore

/// Holds one direction's writes until their release time, on the channel they are
/// written to: delay, bandwidth and slice are carried out here.
///
///     source ─▶ FaultStage(d) decides ─▶ Bridge ═▶ PacingStage(d) holds ─▶ destination
///
/// Holding on the destination side, not the source, matters: a source that sends its
/// last bytes and closes is torn down at once (NIO removes its handlers), while the
/// destination stays open until its end of stream, which this stage keeps behind the
/// data ahead of it. One queue, release times that never go backwards: order is kept.
///
///     writes:  [a]@t+200 [b]           (b decided with slice 1 byte, 10ms)
///     out:     ────────a─b₁─b₂─b₃ close(output)
///
/// Backpressure: the connection asks the source's `FaultStage` to stop reading while
/// more than `FaultStage.highWater` bytes wait here.
package final class PacingStage: ChannelOutboundHandler {
    package typealias OutboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    /// How a write is to be paced, handed over by the source stage for the one
    /// synchronous call in which the bridge writes that unit here
    /// (`FaultConnection.paced`).
    struct Pace {
        var ready: NIODeadline
        var bytesPerSecond: Int?
        var slice: ChunkDecision.Slice?

        /// Both paces at once: the later release, the lower rate, the first slice.
        func merged(with other: Pace) -> Pace {
            Pace(
                ready: max(self.ready, other.ready),
                bytesPerSecond: [self.bytesPerSecond, other.bytesPerSecond].compactMap { $0 }.min(),
                slice: self.slice ?? other.slice
            )
        }
    }

    private enum Entry {
        case data(ByteBuffer)
        case flush
        case close(CloseMode, EventLoopPromise<Void>?)
        case run(() -> Void)
    }

    private let connection: FaultConnection
    package let direction: Event.Direction
    var next: Pace?
    private var queue = CircularBuffer<(entry: Entry, at: NIODeadline)>()
    private var cursor = NIODeadline.distantPast
    private(set) var heldBytes = 0
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var context: ChannelHandlerContext?

    init(connection: FaultConnection, direction: Event.Direction) {
        self.connection = connection
        self.direction = direction
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        self.discard()
        self.context = nil
    }

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let pace = self.next
        self.next = nil
        guard pace != nil || !self.queue.isEmpty else {
            context.write(data, promise: promise)
            return
        }
        let buffer = Self.unwrapOutboundIn(data)
        promise?.succeed()
        self.enqueue(buffer, pace: pace ?? Pace(ready: context.eventLoop.now))
        self.pump(context: context)
    }

    package func flush(context: ChannelHandlerContext) {
        if self.queue.isEmpty {
            context.flush()
        }
    }

    package func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if self.queue.isEmpty {
            context.close(mode: mode, promise: promise)
        } else {
            self.append(.close(mode, promise), at: self.cursor)
        }
    }

    /// Runs `action` once everything queued before it has left (a sever after the data
    /// that preceded it).
    func after(_ action: @escaping () -> Void) {
        guard let context = self.context, !self.queue.isEmpty else {
            action()
            return
        }
        self.append(.run(action), at: self.cursor)
        self.pump(context: context)
    }

    /// Forgets what waits, counting its bytes as dropped.
    func discard() {
        for item in self.queue {
            switch item.entry {
            case .data(let buffer): self.connection.addDropped(buffer.readableBytes, self.direction, afterBridge: true)
            case .close(_, let promise): promise?.fail(ChannelError.ioOnClosedChannel)
            case .flush, .run: break
            }
        }
        self.queue.removeAll()
        self.heldBytes = 0
        self.timer?.cancel()
        self.timer = nil
        self.timerDeadline = nil
    }

    // MARK: Queue

    private func enqueue(_ buffer: ByteBuffer, pace: Pace) {
        var buffer = buffer
        var slice = pace.slice  // draws each piece's size (a size variation)
        repeat {
            var pieceSize = max(buffer.readableBytes, 1)
            if let size = slice?.nextPieceSize() { pieceSize = min(pieceSize, size) }
            // Throttled data leaves in pieces worth about 20ms each, so the rate is smooth.
            if let rate = pace.bytesPerSecond { pieceSize = min(pieceSize, max(1, rate / 50)) }
            let piece = buffer.readSlice(length: min(pieceSize, buffer.readableBytes)) ?? ByteBuffer()
            let at = max(pace.ready, self.cursor)
            self.append(.data(piece), at: at)
            self.append(.flush, at: at)
            var spacing = TimeAmount.zero
            if let rate = pace.bytesPerSecond {
                spacing = .nanoseconds(Int64(piece.readableBytes) * 1_000_000_000 / Int64(rate))
            }
            if let slice = pace.slice { spacing = max(spacing, .nanoseconds(slice.gap.nanoseconds)) }
            self.cursor = at + spacing
        } while buffer.readableBytes > 0
    }

    private func append(_ entry: Entry, at: NIODeadline) {
        let at = max(at, self.cursor)
        self.cursor = at
        if case .data(let buffer) = entry { self.heldBytes += buffer.readableBytes }
        self.queue.append((entry, at))
    }

    /// Releases every entry that is due, then sets the timer for the next.
    private func pump(context: ChannelHandlerContext) {
        let now = context.eventLoop.now
        while let head = self.queue.first, head.at <= now {
            self.queue.removeFirst()
            switch head.entry {
            case .data(let buffer):
                self.heldBytes -= buffer.readableBytes
                context.write(Self.wrapOutboundOut(buffer), promise: nil)
            case .flush:
                context.flush()
            case .close(let mode, let promise):
                context.flush()
                context.close(mode: mode, promise: promise)
            case .run(let action):
                context.flush()
                action()
            }
            if self.context == nil { return }
        }
        self.armTimer(context: context)
        self.connection.pacingDrained(self.direction, held: self.heldBytes)
    }

    private func armTimer(context: ChannelHandlerContext) {
        guard let next = self.queue.first?.at else {
            self.timer?.cancel()
            self.timer = nil
            self.timerDeadline = nil
            return
        }
        if let deadline = self.timerDeadline, deadline <= next, self.timer != nil { return }
        self.timer?.cancel()
        self.timerDeadline = next
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: next) { [self] in
            self.timer = nil
            self.timerDeadline = nil
            guard let context = self.context else { return }
            self.pump(context: context)
        }
    }
}

@available(*, unavailable)
extension PacingStage: Sendable {}
