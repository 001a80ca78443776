#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CPcap

/// A pcap file being written: `pcap_open_dead` for the header, `pcap_dump` per packet.
///
/// Not thread-safe and blocking (it writes through stdio): give it one thread of its own,
/// as `PacketCapture` does. `close()` (or deinit) flushes and closes; a file closed that
/// way is complete for tcpdump, tshark and Wireshark.
package final class PcapDumpFile {
    package let path: String
    package let linkType: LinkType
    package let snapLength: Int32
    private var handle: OpaquePointer?
    private var dumper: OpaquePointer?

    /// Creates (or truncates) `path` and writes the pcap file header.
    ///
    /// - Throws: `PcapError(.file)` with libpcap's reason.
    package init(path: String, linkType: LinkType, snapLength: Int32 = 262_144) throws {
        guard let handle = pcap_open_dead(linkType.rawValue, snapLength) else {
            throw PcapError(.other, "\(path): libpcap cannot make a capture handle for link type \(linkType)")
        }
        guard let dumper = pcap_dump_open(handle, path) else {
            let reason = String(cString: pcap_geterr(handle))
            pcap_close(handle)
            throw PcapError.cannotWrite(path, reason)
        }
        self.path = path
        self.linkType = linkType
        self.snapLength = snapLength
        self.handle = handle
        self.dumper = dumper
    }

    deinit {
        self.close()
    }

    /// Appends one packet. `originalLength` defaults to the bytes given; data longer than
    /// the snap length is cut, as a live capture would.
    package func write(seconds: Int64, microseconds: Int32, bytes: UnsafeRawBufferPointer, originalLength: Int? = nil) {
        guard let dumper = self.dumper, let base = bytes.baseAddress else { return }
        var header = pcap_pkthdr()
        header.ts.tv_sec = .init(seconds)
        header.ts.tv_usec = .init(microseconds)
        header.caplen = UInt32(min(bytes.count, Int(self.snapLength)))
        header.len = UInt32(originalLength ?? bytes.count)
        pcap_dump(UnsafeMutablePointer<UInt8>(dumper), &header, base.assumingMemoryBound(to: UInt8.self))
        if self.writeError == nil, let file = pcap_dump_file(dumper), ferror(file) != 0 { self.writeError = errno }
    }

    /// The errno of the first write that failed (a full disk): stdio sets the stream's
    /// error flag and drops what it could not write, so a later flush with nothing left
    /// to write succeeds; the flag is what says the file is cut short.
    private var writeError: Int32?

    package func write(_ packet: PcapPacket) {
        packet.data.withUnsafeBytes {
            self.write(seconds: packet.seconds, microseconds: packet.microseconds, bytes: $0, originalLength: packet.originalLength)
        }
    }

    /// The file's size so far, buffered bytes included: what rotation compares.
    package var size: Int64 {
        guard let dumper = self.dumper else { return 0 }
        return pcap_dump_ftell64(dumper)
    }

    /// Pushes buffered packets to the kernel.
    package func flush() throws {
        guard let dumper = self.dumper else { return }
        if pcap_dump_flush(dumper) != 0, self.writeError == nil { self.writeError = errno }
        if self.writeError == nil, let file = pcap_dump_file(dumper), ferror(file) != 0 { self.writeError = EIO }
        if let number = self.writeError {
            let reason = number == 0 ? "a write failed" : String(cString: strerror(number))
            throw PcapError(.other, "cannot write capture file \(self.path): \(reason); the file is cut short")
        }
    }

    /// Flushes and closes the file. Safe to call more than once.
    package func close() {
        if let dumper = self.dumper {
            pcap_dump_close(dumper)
            self.dumper = nil
        }
        if let handle = self.handle {
            pcap_close(handle)
            self.handle = nil
        }
    }
}

@available(*, unavailable)
extension PcapDumpFile: Sendable {}
