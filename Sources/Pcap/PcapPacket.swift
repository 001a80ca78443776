/// One captured packet as a pcap file holds it.
package struct PcapPacket: Sendable, Equatable {
    /// Capture time: seconds since 1970 and microseconds past them.
    package var seconds: Int64
    package var microseconds: Int32
    /// The length on the wire; `data` may be shorter if the snap length cut it.
    package var originalLength: Int
    package var data: [UInt8]

    package init(seconds: Int64, microseconds: Int32, originalLength: Int, data: [UInt8]) {
        self.seconds = seconds
        self.microseconds = microseconds
        self.originalLength = originalLength
        self.data = data
    }
}
