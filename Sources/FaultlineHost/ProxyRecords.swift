import FaultlineCore
import FaultlineRecords
import Logging
import Pcap

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The files a proxy writes (`--log`, `--pcap`), opened before it listens so a bad path
/// fails at once, and closed after it drained so both files are complete.
package struct ProxyRecords: Sendable {
    /// Where a proxy's records go; nil paths record nothing.
    package struct Paths: Sendable, Equatable {
        package var log: String?
        package var pcap: String?
        /// `--pcap-max-size`: rotate the capture beyond this many bytes.
        package var pcapMaxSize: Int64?
        /// `--pcap-buffer`: bytes of captured payload that may wait for the writer.
        package var pcapBuffer: Int?

        package init(log: String? = nil, pcap: String? = nil, pcapMaxSize: Int64? = nil, pcapBuffer: Int? = nil) {
            self.log = log
            self.pcap = pcap
            self.pcapMaxSize = pcapMaxSize
            self.pcapBuffer = pcapBuffer
        }
    }

    package let log: EventLog?
    package let capture: PacketCapture?

    /// - Throws: `InvalidInputError` (exit 2), before either file is made, when the log
    ///   and the capture are one file: the capture would overwrite the log.
    package init(_ paths: Paths) throws {
        if let log = paths.log, let pcap = paths.pcap, SameFile.check(log, pcap) {
            throw InvalidInputError(
                "--log \(log) and --pcap \(pcap) name the same file: the capture would write over the event log; give each a file of its own"
            )
        }
        let eventLog = try paths.log.map { try EventLog(path: $0) }
        do {
            self.capture = try paths.pcap.map { try Self.openCapture($0, paths: paths) }
        } catch {
            try? eventLog?.close()
            throw error
        }
        self.log = eventLog
    }

    /// A capture file at `path`, with the size and buffer bounds of `paths`.
    ///
    /// - Throws: the `PcapError`'s user-facing form: a file that cannot be made is bad input (exit 2).
    package static func openCapture(_ path: String, paths: Paths) throws -> PacketCapture {
        do {
            return try PacketCapture(
                path: path, maxFileSize: paths.pcapMaxSize, maxQueuedBytes: paths.pcapBuffer ?? PacketCapture.defaultMaxQueuedBytes,
                onFailure: { message in
                    // Said when it happens; `close` throws it again at the end (exit 3).
                    Logger(label: "faultline.capture").error("capture failed: \(message)", metadata: ["file": "\(path)"])
                }
            )
        } catch let error as PcapError {
            throw error.userFacing
        }
    }

    /// Where the proxy records events: the log, or nowhere.
    package var events: any EventSink {
        self.log ?? NullEventSink()
    }

    /// Drains and closes both files; says on standard error if either lost anything.
    /// The capture closes first, so a capture that lost packets is recorded in the log
    /// (`capture_dropped`) before the log closes.
    ///
    /// - Parameter capture: the capture in force now: the first one, one started later
    ///   (`HostedProxy.startCapture`), or none (a capture stopped was closed then).
    package func close(capture: PacketCapture?, logger: Logger) async throws {
        var failure: (any Error)?
        if let capture {
            do { try await self.close(capture, logger: logger) } catch { failure = error }
        }
        if let log = self.log {
            do { try await log.close() } catch { failure = failure ?? error }
            if log.droppedEvents > 0 {
                logger.warning("event log fell behind", metadata: ["dropped": "\(log.droppedEvents)", "file": "\(log.path)"])
            }
        }
        if let failure { throw failure }
    }

    /// Closes both files and removes them: for a proxy that never started (its address
    /// in use, say), whose empty log would read as a run that recorded nothing.
    package func discard(logger: Logger) async {
        try? await self.close(capture: self.capture, logger: logger)
        for path in [self.log?.path, self.capture?.path].compactMap({ $0 }) {
            unlink(path)
        }
    }

    /// Drains and closes one capture (this proxy's first, or one started later); a
    /// capture that lost packets says so in the log (`capture_dropped`) and on standard
    /// error. Safe to call more than once.
    package func close(_ capture: PacketCapture, logger: Logger) async throws {
        var failure: (any Error)?
        do {
            try await capture.close()
        } catch let error as PcapError {
            failure = RuntimeFailure(error.message)
        }
        if let dropped = capture.droppedEvent {
            self.log?.record(dropped)
            logger.warning("capture lost packets", metadata: ["dropped": "\(capture.droppedPackets)", "file": "\(capture.path)"])
        }
        if let failure { throw failure }
    }
}
