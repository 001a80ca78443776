import FaultlineRecords
import NIOCore
import Testing

@testable import FaultlineProxy

/// Which address a wildcard-bound UDP socket shows in `--pcap` packets.
struct UDPCaptureLegsTests {
    static func end(_ ip: String, _ port: Int) throws -> IPEndpoint {
        try #require(IPEndpoint(try SocketAddress(ipAddress: ip, port: port)))
    }

    static let cases: [(local: String, peer: String, fallback: String?, shown: String)] = [
        // A concrete address is what it is.
        ("10.1.2.3", "127.0.0.1", nil, "10.1.2.3"),
        // Towards a loopback peer the kernel sends from loopback.
        ("0.0.0.0", "127.0.0.1", nil, "127.0.0.1"),
        ("0.0.0.0", "127.0.0.53", "10.1.2.3", "127.0.0.53"),
        ("::", "::1", nil, "::1"),
        // Elsewhere, the listener's address is the guess; without one, the wildcard stays.
        ("0.0.0.0", "192.0.2.7", "10.1.2.3", "10.1.2.3"),
        ("0.0.0.0", "192.0.2.7", "0.0.0.0", "0.0.0.0"),
        ("0.0.0.0", "192.0.2.7", "::1", "0.0.0.0"),
    ]

    @Test(arguments: cases)
    func wildcardShowsTheAddressTheKernelWouldPick(local: String, peer: String, fallback: String?, shown: String) throws {
        let result = UDPCaptureLegs.shown(
            try SocketAddress(ipAddress: local, port: 4000),
            towards: try SocketAddress(ipAddress: peer, port: 53),
            fallback: try fallback.map { try Self.end($0, 5300) }
        )
        #expect(result == (try Self.end(shown, 4000)))
    }
}
