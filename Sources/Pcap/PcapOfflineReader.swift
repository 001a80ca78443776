import CPcap

/// Reads a capture file through libpcap's `pcap_open_offline`: pcap or pcapng, any link
/// type libpcap knows.
package final class PcapOfflineReader {
    package let path: String
    private var handle: OpaquePointer?

    /// - Throws: `PcapError(.file)` with libpcap's reason (missing file, not a capture).
    package init(path: String) throws {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_open_offline(path, &errorBuffer) else {
            throw PcapError(.file, "cannot read capture file \(path): \(PcapError.text(errorBuffer))")
        }
        self.path = path
        self.handle = handle
    }

    deinit {
        if let handle = self.handle { pcap_close(handle) }
    }

    /// The file's link-layer type.
    package var linkType: LinkType {
        guard let handle = self.handle else { return .raw }
        return LinkType(rawValue: pcap_datalink(handle))
    }

    /// The next packet, or nil at the end of the file.
    ///
    /// - Throws: `PcapError(.file)` for a damaged or truncated file.
    package func next() throws -> PcapPacket? {
        guard let handle = self.handle else { return nil }
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let result = pcap_next_ex(handle, &header, &data)
        switch result {
        case 1:
            guard let header, let data else { return nil }
            let length = Int(header.pointee.caplen)
            return PcapPacket(
                seconds: Int64(header.pointee.ts.tv_sec),
                microseconds: Int32(header.pointee.ts.tv_usec),
                originalLength: Int(header.pointee.len),
                data: Array(UnsafeBufferPointer(start: data, count: length))
            )
        case PCAP_ERROR_BREAK:
            return nil
        default:
            throw PcapError(.file, "cannot read capture file \(self.path): \(String(cString: pcap_geterr(handle)))")
        }
    }

    /// Every packet in the file at `path`, with its link type.
    package static func readAll(path: String) throws -> (linkType: LinkType, packets: [PcapPacket]) {
        let reader = try PcapOfflineReader(path: path)
        var packets: [PcapPacket] = []
        while let packet = try reader.next() { packets.append(packet) }
        return (reader.linkType, packets)
    }
}

@available(*, unavailable)
extension PcapOfflineReader: Sendable {}
