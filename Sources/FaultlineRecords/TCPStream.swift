/// One TCP connection found in a capture, its bytes in each direction.
public struct TCPStream: Sendable, Equatable {
    /// The end that sent SYN (or, without a SYN in the capture, the first sender).
    public var client: IPEndpoint
    public var server: IPEndpoint
    public var clientToServer: [UInt8] = []
    public var serverToClient: [UInt8] = []
    public var sawSYN = false
    public var clientFIN = false
    public var serverFIN = false
    public var reset = false
    /// Bytes the sequence numbers say were sent but are not in the capture.
    public var missingBytes = 0
    /// When the first packet was captured (seconds since 1970).
    public var firstSeconds: Int64 = 0
    public var firstMicroseconds: Int32 = 0
}
