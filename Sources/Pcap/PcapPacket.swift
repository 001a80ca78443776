/// One captured packet as a pcap file holds it.
public struct PcapPacket: Sendable, Equatable {
    /// Capture time: seconds since 1970 and microseconds past them.
    public var seconds: Int64
    public var microseconds: Int32
    /// The length on the wire; `data` may be shorter if the snap length cut it.
    public var originalLength: Int
    public var data: [UInt8]

    public init(seconds: Int64, microseconds: Int32, originalLength: Int, data: [UInt8]) {
        self.seconds = seconds
        self.microseconds = microseconds
        self.originalLength = originalLength
        self.data = data
    }
}
