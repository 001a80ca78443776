import FaultlineCore
import FaultlineRecords
import Logging
import Pcap

/// The files a proxy run writes (`--log`, `--pcap`), opened before it listens so a bad
/// path fails at once, and closed after it drained so both files are complete.
struct Records {
    let log: EventLog?
    let capture: PacketCapture?

    init(log: String?, pcap: String?, pcapMaxSize: Int64?, pcapBuffer: Int?) throws {
        let eventLog = try log.map { try EventLog(path: $0) }
        do {
            self.capture = try pcap.map { try PacketCapture(path: $0, maxFileSize: pcapMaxSize, maxQueuedBytes: pcapBuffer ?? PacketCapture.defaultMaxQueuedBytes) }
        } catch let error as PcapError {
            try? eventLog?.close()
            throw error.userFacing
        }
        self.log = eventLog
    }

    var events: any EventSink {
        self.log ?? NullEventSink()
    }

    /// Drains and closes both files; says on standard error if either lost anything.
    /// The capture closes first, so a capture that lost packets is recorded in the log
    /// (`capture_dropped`) before the log closes.
    func close(logger: Logger) async throws {
        var failure: (any Error)?
        if let capture = self.capture {
            do {
                try await capture.close()
            } catch let error as PcapError {
                failure = RuntimeFailure(error.message)
            }
            if let dropped = capture.droppedEvent {
                self.log?.record(dropped)
                logger.warning("capture fell behind", metadata: ["dropped": "\(capture.droppedPackets)", "file": "\(capture.path)"])
            }
        }
        if let log = self.log {
            do { try await log.close() } catch { failure = failure ?? error }
            if log.droppedEvents > 0 {
                logger.warning("event log fell behind", metadata: ["dropped": "\(log.droppedEvents)", "file": "\(log.path)"])
            }
        }
        if let failure { throw failure }
    }
}
