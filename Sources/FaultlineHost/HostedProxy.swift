import FaultlineCore
import FaultlineProxy
import FaultlineRecords
import Logging
import NIOCore
import Synchronization

/// A proxy the host started, with its records: where it listens, the seed it runs
/// with, what it has done so far, and how to stop it cleanly.
package final class HostedProxy: Sendable {
    enum Engine: Sendable {
        case tcp(TCPProxy)
        case udp(UDPProxy)
    }

    package let spec: ProxySpec
    /// The address it really listens on (the real port when port 0 was asked for).
    package let address: HostPort
    /// The seed every fault decision derives from.
    package let seed: UInt64
    /// Connections, messages and faults so far, when the spec asked for them.
    package let tally: EventTally?
    let engine: Engine
    let records: ProxyRecords
    let logger: Logger
    /// The capture in force: the one `--pcap` opened, or one started later; nil when
    /// none is.
    private let capture: Mutex<PacketCapture?>

    init(spec: ProxySpec, address: HostPort, seed: UInt64, tally: EventTally?, engine: Engine, records: ProxyRecords, logger: Logger) {
        self.spec = spec
        self.address = address
        self.seed = seed
        self.tally = tally
        self.engine = engine
        self.records = records
        self.logger = logger
        self.capture = Mutex(records.capture)
    }

    package var name: String { self.spec.name }

    /// Open TCP connections, or UDP sessions.
    package var open: Int {
        switch self.engine {
        case .tcp(let proxy): proxy.openConnections
        case .udp(let proxy): proxy.openSessions
        }
    }

    /// Bytes written to the upstream and to clients so far, open connections included.
    package var bytesForwarded: (upstream: Int, downstream: Int) {
        let totals: ForwardedBytes
        switch self.engine {
        case .tcp(let proxy): totals = proxy.forwarded
        case .udp(let proxy): totals = proxy.forwarded
        }
        return (totals.upstream.value, totals.downstream.value)
    }

    /// Events the log could not keep up with so far (0 without a log): each is also a
    /// `log_dropped` event in the log itself.
    package var droppedEvents: Int {
        self.records.log?.droppedEvents ?? 0
    }

    /// The capture's file and counts so far (packets written, and packets dropped
    /// because the writer fell behind); nil when this proxy captures nothing.
    package var captureCounts: CaptureCounts? {
        self.capture.withLock { $0 }.map(CaptureCounts.init)
    }

    /// Starts capturing both legs of every connection (or UDP session), the open ones
    /// included, into a new pcap file at `path`, while the proxy runs: nothing is
    /// restarted or disturbed. A tap put into an open TCP connection starts its flow
    /// with a handshake at that moment.
    ///
    /// - Throws: `InvalidInputError` when a capture is in force already; the capture
    ///   file's user-facing error (bad input, exit 2) when it cannot be opened.
    package func startCapture(_ path: String, buffer: Int? = nil, maxFileSize: Int64? = nil) async throws -> CaptureCounts {
        // Checked before the file is made, so a refused start leaves no empty file;
        // checked again below, as the capture is put in force.
        if let running = self.captureCounts {
            throw InvalidInputError("proxy '\(self.name)' is already capturing, to \(running.file)")
        }
        let capture = try ProxyRecords.openCapture(path, paths: ProxyRecords.Paths(pcapMaxSize: maxFileSize, pcapBuffer: buffer))
        let taken = self.capture.withLock { current -> Bool in
            guard current == nil else { return false }
            current = capture
            return true
        }
        guard taken else {
            try? await capture.close()
            throw InvalidInputError("proxy '\(self.name)' is already capturing, to \(self.captureCounts?.file ?? "a file")")
        }
        await self.setEngineCapture(capture)
        return CaptureCounts(capture)
    }

    /// Stops the capture in force: no packet reaches it any more, then its file is
    /// drained and closed, complete. Returns what it wrote, or nil when none was in
    /// force.
    package func stopCapture() async throws -> CaptureCounts? {
        guard let capture = self.capture.withLock({ current in defer { current = nil }; return current }) else { return nil }
        await self.setEngineCapture(nil)
        try await self.records.close(capture, logger: self.logger)
        return CaptureCounts(capture)
    }

    private func setEngineCapture(_ capture: PacketCapture?) async {
        switch self.engine {
        case .tcp(let proxy): await proxy.setCapture(capture)
        case .udp(let proxy): await proxy.setCapture(capture)
        }
    }

    /// Puts `profile` in force on the running proxy (nil: no faults) and returns the new
    /// plan's number. New data on open connections follows it at once; no connection is
    /// dropped unless a rule says so. The change is a `plan_change` event in the log.
    ///
    /// - Throws: `ProfileError` or `InvalidInputError` (exit 2) for a profile this
    ///   proxy cannot carry; the plan in force is then unchanged.
    @discardableResult
    package func apply(_ profile: Profile?) async throws -> UInt64 {
        switch self.engine {
        case .tcp(let proxy):
            return try await proxy.apply(profile ?? .none).number
        case .udp(let proxy):
            return try await proxy.apply(profile ?? .none).number
        }
    }

    /// Ends the grace of a `stop` under way (or the next one) at once: a second SIGINT
    /// or SIGTERM. TCP connections and UDP sessions still open close as when the grace
    /// is over (what faults hold in them is discarded, counted as dropped), their
    /// records kept.
    package func endGrace() {
        switch self.engine {
        case .tcp(let proxy): proxy.endGrace()
        case .udp(let proxy): proxy.endGrace()
        }
    }

    /// Stops accepting, lets open TCP connections finish for `grace` (UDP sessions,
    /// until what faults hold in them has left), closes the rest at once (what faults
    /// still hold is discarded, counted as dropped), then drains and closes the log and
    /// capture so both files are complete.
    package func stop(grace: Duration) async throws {
        switch self.engine {
        case .tcp(let proxy): await proxy.shutdown(grace: .nanoseconds(grace.nanoseconds))
        case .udp(let proxy): await proxy.shutdown(grace: .nanoseconds(grace.nanoseconds))
        }
        try await self.records.close(capture: self.capture.withLock { $0 }, logger: self.logger)
    }
}

/// What a proxy's packet capture has done: its (first) file, packets written, packets
/// dropped because the writer fell behind.
package struct CaptureCounts: Sendable, Equatable {
    package var file: String
    package var written: Int
    package var dropped: Int

    init(_ capture: PacketCapture) {
        self.init(file: capture.path, written: capture.writtenPackets, dropped: capture.droppedPackets)
    }

    package init(file: String, written: Int, dropped: Int) {
        self.file = file
        self.written = written
        self.dropped = dropped
    }
}
