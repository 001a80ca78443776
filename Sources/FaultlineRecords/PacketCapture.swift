import Dispatch
import FaultlineCore
import Foundation
import NIOCore
import Pcap
import Synchronization

/// The `--pcap FILE` sink: synthetic packets of what the proxy carries, written to a
/// standard pcap file (link type RAW) by a thread of its own.
///
/// Callers on event loops hand over segments (endpoints, sequence numbers, flags and the
/// payload `ByteBuffer`, not copied); the writer thread builds the IP and TCP/UDP headers
/// and calls `pcap_dump`. The queue is bounded in bytes; a segment that does not fit is
/// dropped and counted (`droppedPackets`), never waited for.
///
/// With `maxFileSize`, the file rotates: `run.pcap`, then `run.1.pcap`, `run.2.pcap`...
/// each a complete capture. `close()` drains the queue and closes the file, so a run
/// stopped by SIGINT or SIGTERM leaves valid captures.
package final class PacketCapture: Sendable {
    /// What one queued packet is.
    enum Packet: Sendable {
        case tcp(source: IPEndpoint, destination: IPEndpoint, sequence: UInt32, acknowledgement: UInt32,
                 flags: PacketBuilder.TCPFlags, payload: ByteBuffer?)
        case udp(source: IPEndpoint, destination: IPEndpoint, payload: ByteBuffer)

        var payloadBytes: Int {
            switch self {
            case .tcp(_, _, _, _, _, let payload): payload?.readableBytes ?? 0
            case .udp(_, _, let payload): payload.readableBytes
            }
        }
    }

    private struct Queued {
        var packet: Packet
        var time: WallTime
    }

    private struct State {
        var queue: [Queued] = []
        var queuedBytes = 0
        var dropped = 0
        var written = 0
        var files: [String] = []
        var writerSleeping = false
        var closing = false
        var error: String?
    }

    /// Payload bytes that may wait for the writer unless told otherwise: a few seconds
    /// of a fast loopback transfer.
    package static let defaultMaxQueuedBytes = 64 << 20

    /// The first file's path; rotated files derive from it.
    package let path: String
    package let maxFileSize: Int64?
    package let maxQueuedBytes: Int
    private let clock: any WallClock
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    /// Told the first write failure as it happens (the writer's thread), so it is said
    /// while the proxy runs, not only when `close()` throws it at the end.
    private let onFailure: (@Sendable (String) -> Void)?

    /// Creates the first capture file at once, so a bad path fails before traffic flows.
    ///
    /// - Parameters:
    ///   - maxFileSize: rotate to a new file before one would grow beyond this many bytes.
    ///   - maxQueuedBytes: payload bytes that may wait for the writer before packets are
    ///     dropped (and counted).
    /// - Throws: `PcapError(.file)`.
    package init(
        path: String,
        maxFileSize: Int64? = nil,
        clock: any WallClock = SystemWallClock(),
        maxQueuedBytes: Int = PacketCapture.defaultMaxQueuedBytes,
        onFailure: (@Sendable (String) -> Void)? = nil
    ) throws {
        let first = try PcapDumpFile(path: path, linkType: .raw)
        self.onFailure = onFailure
        self.path = path
        self.maxFileSize = maxFileSize
        self.maxQueuedBytes = maxQueuedBytes
        self.clock = clock
        self.state.withLock { $0.files = [path] }
        let writer = UnsafeTransfer(first)
        Thread.detachNewThread { [self] in
            self.runWriter(writer.value)
        }
    }

    // MARK: Feeding (any thread)

    /// Starts a TCP capture flow: emits the three-way handshake (`initiator` sent SYN).
    package func tcpFlow(initiator: IPEndpoint, responder: IPEndpoint) -> TCPCaptureFlow {
        TCPCaptureFlow(capture: self, initiator: initiator, responder: responder)
    }

    /// One UDP datagram, as it travelled from `source` to `destination`.
    package func udpDatagram(from source: IPEndpoint, to destination: IPEndpoint, payload: ByteBuffer) {
        guard source.isIPv6 == destination.isIPv6 else { return }
        self.enqueue(.udp(source: source, destination: destination, payload: payload))
    }

    /// One UDP datagram between two socket addresses (as an `AddressedEnvelope` has
    /// them); datagrams of other address kinds are not captured.
    package func udpDatagram(from source: SocketAddress, to destination: SocketAddress, payload: ByteBuffer) {
        guard let from = IPEndpoint(source), let to = IPEndpoint(destination) else { return }
        self.udpDatagram(from: from, to: to, payload: payload)
    }

    func enqueue(_ packet: Packet) {
        let now = self.clock.now()
        let size = packet.payloadBytes
        let shouldWake = self.state.withLock { state -> Bool in
            if state.closing || state.queuedBytes + size > self.maxQueuedBytes {
                state.dropped += 1
                return false
            }
            state.queue.append(Queued(packet: packet, time: now))
            state.queuedBytes += size
            if state.writerSleeping {
                state.writerSleeping = false
                return true
            }
            return false
        }
        if shouldWake { self.wake.signal() }
    }

    // MARK: Statistics

    /// Packets not written: the queue was full, the capture closed, or a file could not
    /// be written (then every packet after it too).
    package var droppedPackets: Int { self.state.withLock { $0.dropped } }
    /// The `capture_dropped` event for a capture that lost packets (nil when it lost
    /// none), so the log says the capture is incomplete, not only standard error.
    package var droppedEvent: Event? {
        let (dropped, error) = self.state.withLock { ($0.dropped, $0.error) }
        guard dropped > 0 else { return nil }
        var event = Event(.captureDropped)
        event.count = dropped
        let why = error.map { "the packet capture could not be written (\($0))" } ?? "the packet capture fell behind"
        event.reason = "\(why); \(dropped) packets were not written to \(self.path)"
        return event
    }

    /// Packets written so far.
    package var writtenPackets: Int { self.state.withLock { $0.written } }
    /// Every file written so far, first to last.
    package var files: [String] { self.state.withLock { $0.files } }

    // MARK: Closing

    /// Writes everything queued and closes the file. Blocks: call it off the event
    /// loops (or use the `async` form). Safe to call more than once.
    ///
    /// - Throws: `PcapError(.other)` (a runtime failure) if a file could not be written
    ///   or rotated: the first failure, which `onFailure` was told as it happened.
    package func close() throws {
        let wakeWriter = self.state.withLock { state -> Bool in
            defer { state.closing = true }
            if state.writerSleeping {
                state.writerSleeping = false
                return true
            }
            return false
        }
        if wakeWriter { self.wake.signal() }
        self.finished.wait()
        self.finished.signal()
        if let error = self.state.withLock({ $0.error }) {
            throw PcapError(.other, error)
        }
    }

    package func close() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try self.close() })
            }
        }
    }

    // MARK: The writer thread

    private func runWriter(_ first: PcapDumpFile) {
        var file: PcapDumpFile? = first
        var packetsInFile = 0
        var identification: UInt16 = 0
        while true {
            let taken = self.state.withLock { state -> (batch: [Queued], last: Bool)? in
                if state.queue.isEmpty, !state.closing {
                    state.writerSleeping = true
                    return nil
                }
                let batch = state.queue
                state.queue = []
                state.queuedBytes = 0
                return (batch, state.closing)
            }
            guard let taken else {
                self.wake.wait()
                continue
            }
            var written = 0
            var lost = 0
            for queued in taken.batch {
                identification &+= 1
                let bytes = Self.build(queued.packet, identification: identification)
                if let maxFileSize = self.maxFileSize, let current = file, packetsInFile > 0,
                    current.size + Int64(bytes.count) + 16 > maxFileSize
                {
                    current.close()
                    let next = Self.rotatedPath(self.path, index: self.state.withLock { $0.files.count })
                    do {
                        file = try PcapDumpFile(path: next, linkType: .raw)
                        self.state.withLock { $0.files.append(next) }
                    } catch {
                        file = nil
                        self.fail(error)
                    }
                    packetsInFile = 0
                }
                guard let file else {
                    lost += 1  // no file since a write or a rotation failed
                    continue
                }
                let (seconds, microseconds) = queued.time.secondsAndMicroseconds
                bytes.withUnsafeBytes { file.write(seconds: seconds, microseconds: microseconds, bytes: $0) }
                packetsInFile += 1
                written += 1
            }
            do {
                try file?.flush()
            } catch {
                self.fail(error)
                // Not all of the batch reached the disk, and a file cut off midway takes
                // no more packets: the batch and every packet after it are lost, and
                // counted, so `capture_dropped` says the capture is incomplete.
                lost += written
                written = 0
                file?.close()
                file = nil
            }
            self.state.withLock { state in
                state.written += written
                state.dropped += lost
            }
            if taken.last {
                file?.close()
                self.finished.signal()
                return
            }
        }
    }

    /// Keeps the first write failure (what `close()` throws) and tells `onFailure`.
    private func fail(_ error: any Error) {
        let message = (error as? PcapError)?.message ?? "\(error)"
        let first = self.state.withLock { state -> Bool in
            guard state.error == nil else { return false }
            state.error = message
            return true
        }
        if first { self.onFailure?(message) }
    }

    private static func build(_ packet: Packet, identification: UInt16) -> [UInt8] {
        switch packet {
        case .tcp(let source, let destination, let sequence, let acknowledgement, let flags, let payload):
            let body = payload ?? ByteBuffer()
            return body.withUnsafeReadableBytes {
                PacketBuilder.tcp(
                    source: source, destination: destination, sequence: sequence, acknowledgement: acknowledgement,
                    flags: flags, identification: identification, payload: $0
                )
            }
        case .udp(let source, let destination, let payload):
            return payload.withUnsafeReadableBytes {
                PacketBuilder.udp(source: source, destination: destination, identification: identification, payload: $0)
            }
        }
    }

    /// `run.pcap` → `run.1.pcap`; `run` → `run.1`.
    static func rotatedPath(_ path: String, index: Int) -> String {
        let nameStart = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        guard let dot = path[nameStart...].lastIndex(of: "."), dot > nameStart else { return "\(path).\(index)" }
        return "\(path[..<dot]).\(index)\(path[dot...])"
    }
}

/// Moves a non-Sendable value to the one thread that will use it from then on.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
