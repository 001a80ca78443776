import CPcap

/// Facts about the libpcap this binary is linked against.
public enum PcapLibrary {
    /// libpcap's own version string, for example `libpcap version 1.10.3 (with TPACKET_V3)`.
    public static var version: String {
        String(cString: pcap_lib_version())
    }
}
