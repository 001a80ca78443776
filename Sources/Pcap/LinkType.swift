import CPcap

/// A capture's link-layer header type (libpcap's `DLT_*`), which says how to find the IP
/// header in each packet.
package struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    package var rawValue: Int32

    package init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// Raw IPv4 or IPv6, no link header: what faultline's synthetic captures use.
    package static let raw = LinkType(rawValue: Int32(DLT_RAW))
    /// Ethernet II.
    package static let ethernet = LinkType(rawValue: Int32(DLT_EN10MB))
    /// BSD loopback: a 4-byte address family in host byte order.
    package static let null = LinkType(rawValue: Int32(DLT_NULL))
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    package static let loop = LinkType(rawValue: Int32(DLT_LOOP))
    /// Linux "cooked" capture (the `any` interface), versions 1 and 2.
    package static let linuxSLL = LinkType(rawValue: Int32(DLT_LINUX_SLL))
    package static let linuxSLL2 = LinkType(rawValue: Int32(DLT_LINUX_SLL2))
    /// The pcap file header's LINKTYPE_RAW, which libpcap maps back to `raw` on read.
    package static let linktypeRaw = LinkType(rawValue: 101)

    package var description: String {
        guard let name = pcap_datalink_val_to_name(self.rawValue) else { return "DLT \(self.rawValue)" }
        return String(cString: name)
    }
}
