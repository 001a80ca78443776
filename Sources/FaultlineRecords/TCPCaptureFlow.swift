import NIOCore

/// One TCP connection's packets in a synthetic capture, with the sequence and
/// acknowledgement numbers a real stack would have used.
///
/// Each side's sequence number starts at its ISN, advances by 1 for SYN and FIN and by
/// the payload length for data, so a reader reassembles exactly the bytes given here:
///
///     initiator ── SYN seq=a ─────────────────────▶ responder
///               ◀─ SYN,ACK seq=b ack=a+1 ─────────
///               ── ACK seq=a+1 ack=b+1 ───────────▶
///               ── PSH,ACK seq=a+1 len=n ─────────▶   data(from: .initiator)
///               ◀─ ACK ack=a+1+n ──────────────────
///               ── FIN,ACK ───────────────────────▶   fin(from: .initiator)
///
/// Not thread-safe: one event loop drives it (the `WireTap` of one channel).
package final class TCPCaptureFlow {
    package enum Side: Sendable {
        /// The end that sent SYN.
        case initiator
        case responder
    }

    /// The largest payload put in one synthetic segment; larger writes are split.
    package static let maximumSegment = 16 * 1024

    private let capture: PacketCapture
    package let initiator: IPEndpoint
    package let responder: IPEndpoint
    private var nextSequence: (initiator: UInt32, responder: UInt32)
    private var finished: (initiator: Bool, responder: Bool) = (false, false)
    private var reset = false

    init(capture: PacketCapture, initiator: IPEndpoint, responder: IPEndpoint) {
        self.capture = capture
        self.initiator = initiator
        self.responder = responder
        // Deterministic ISNs from the endpoints: the same run gives the same capture.
        let a = Self.isn(initiator, responder)
        let b = Self.isn(responder, initiator)
        self.nextSequence = (a, b)
        guard initiator.isIPv6 == responder.isIPv6 else {
            self.reset = true
            return
        }
        self.emit(from: .initiator, flags: [.syn], payload: nil)
        self.nextSequence.initiator &+= 1
        self.emit(from: .responder, flags: [.syn, .ack], payload: nil)
        self.nextSequence.responder &+= 1
        self.emit(from: .initiator, flags: [.ack], payload: nil)
    }

    /// Bytes `side` sent; the other side acknowledges them.
    package func data(from side: Side, _ buffer: ByteBuffer) {
        guard !self.reset, !self.isFinished(side), buffer.readableBytes > 0 else { return }
        var rest = buffer
        while rest.readableBytes > 0 {
            let length = min(rest.readableBytes, Self.maximumSegment)
            guard let slice = rest.readSlice(length: length) else { break }
            self.emit(from: side, flags: [.psh, .ack], payload: slice)
            self.advance(side, by: UInt32(length))
            self.emit(from: side.other, flags: [.ack], payload: nil)
        }
    }

    /// `side` sent FIN (once; later calls do nothing).
    package func fin(from side: Side) {
        guard !self.reset, !self.isFinished(side) else { return }
        self.emit(from: side, flags: [.fin, .ack], payload: nil)
        self.advance(side, by: 1)
        self.setFinished(side)
        self.emit(from: side.other, flags: [.ack], payload: nil)
    }

    /// `side` sent RST: the flow is over.
    package func reset(from side: Side) {
        guard !self.reset else { return }
        self.emit(from: side, flags: [.rst, .ack], payload: nil)
        self.reset = true
    }

    /// The connection closed: whichever side has not sent FIN yet does so, `first` first.
    package func close(first: Side) {
        self.fin(from: first)
        self.fin(from: first.other)
    }

    /// True once both sides sent FIN, or one sent RST.
    package var isOver: Bool {
        self.reset || (self.finished.initiator && self.finished.responder)
    }

    private func emit(from side: Side, flags: PacketBuilder.TCPFlags, payload: ByteBuffer?) {
        let (source, destination) = side == .initiator ? (self.initiator, self.responder) : (self.responder, self.initiator)
        let (sequence, acknowledgement) =
            side == .initiator
            ? (self.nextSequence.initiator, self.nextSequence.responder)
            : (self.nextSequence.responder, self.nextSequence.initiator)
        self.capture.enqueue(
            .tcp(source: source, destination: destination, sequence: sequence, acknowledgement: acknowledgement, flags: flags, payload: payload)
        )
    }

    private func advance(_ side: Side, by count: UInt32) {
        switch side {
        case .initiator: self.nextSequence.initiator &+= count
        case .responder: self.nextSequence.responder &+= count
        }
    }

    private func isFinished(_ side: Side) -> Bool {
        side == .initiator ? self.finished.initiator : self.finished.responder
    }

    private func setFinished(_ side: Side) {
        switch side {
        case .initiator: self.finished.initiator = true
        case .responder: self.finished.responder = true
        }
    }

    private static func isn(_ from: IPEndpoint, _ to: IPEndpoint) -> UInt32 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        for byte in from.address + [UInt8(from.port >> 8), UInt8(from.port & 0xFF)] + to.address
            + [UInt8(to.port >> 8), UInt8(to.port & 0xFF)]
        {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        return UInt32(truncatingIfNeeded: hash ^ (hash >> 32))
    }
}

extension TCPCaptureFlow.Side {
    var other: TCPCaptureFlow.Side {
        self == .initiator ? .responder : .initiator
    }
}

@available(*, unavailable)
extension TCPCaptureFlow: Sendable {}
