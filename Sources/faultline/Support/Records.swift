import FaultlineCore
import FaultlineRecords
import Logging
import Pcap

/// The files a proxy run writes (`--log`, `--pcap`), opened before it listens so a bad
/// path fails at once, and closed after it drained so both files are complete.
struct Records {
    let log: EventLog?
    let capture: PacketCapture?

    init(log: String?, pcap: String?, pcapMaxSize: Int64?) throws {
        let eventLog = try log.map { try EventLog(path: $0) }
        do {
            self.capture = try pcap.map { try PacketCapture(path: $0, maxFileSize: pcapMaxSize) }
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
    func close(logger: Logger) async throws {
        var failure: (any Error)?
        if let log = self.log {
            do { try await log.close() } catch { failure = error }
            if log.droppedEvents > 0 {
                logger.warning("event log fell behind", metadata: ["dropped": "\(log.droppedEvents)", "file": "\(log.path)"])
            }
        }
        if let capture = self.capture {
            do {
                try await capture.close()
            } catch let error as PcapError {
                failure = failure ?? RuntimeFailure(error.message)
            }
            if capture.droppedPackets > 0 {
                logger.warning("capture fell behind", metadata: ["dropped": "\(capture.droppedPackets)", "file": "\(capture.path)"])
            }
        }
        if let failure { throw failure }
    }
}
