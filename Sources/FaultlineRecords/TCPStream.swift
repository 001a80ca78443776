/// One TCP connection found in a capture, its bytes in each direction.
package struct TCPStream: Sendable, Equatable {
    /// The end that sent SYN (or, without a SYN in the capture, the first sender).
    package var client: IPEndpoint
    package var server: IPEndpoint
    package var clientToServer: [UInt8] = []
    package var serverToClient: [UInt8] = []
    package var sawSYN = false
    package var clientFIN = false
    package var serverFIN = false
    package var reset = false
    /// Bytes the sequence numbers say were sent but are not in the capture.
    package var missingBytes = 0
    /// When the first packet was captured (seconds since 1970).
    package var firstSeconds: Int64 = 0
    package var firstMicroseconds: Int32 = 0
}
