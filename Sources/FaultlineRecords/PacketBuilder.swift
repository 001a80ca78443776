/// Builds the IPv4/IPv6 + TCP/UDP packets of a synthetic capture (link type RAW: the
/// packet starts at the IP header).
///
///     ┌ IPv4 (20) or IPv6 (40) ┐┌ TCP (20) or UDP (8) ┐┌ payload ┐
///
/// Checksums are computed, so tools that verify them find nothing to flag.
package enum PacketBuilder {
    /// TCP header flags.
    package struct TCPFlags: OptionSet, Hashable, Sendable {
        package let rawValue: UInt8
        package init(rawValue: UInt8) { self.rawValue = rawValue }
        package static let fin = TCPFlags(rawValue: 0x01)
        package static let syn = TCPFlags(rawValue: 0x02)
        package static let rst = TCPFlags(rawValue: 0x04)
        package static let psh = TCPFlags(rawValue: 0x08)
        package static let ack = TCPFlags(rawValue: 0x10)
    }

    static let ipProtocolTCP: UInt8 = 6
    static let ipProtocolUDP: UInt8 = 17

    /// A TCP segment from `source` to `destination` (same address family).
    package static func tcp(
        source: IPEndpoint,
        destination: IPEndpoint,
        sequence: UInt32,
        acknowledgement: UInt32,
        flags: TCPFlags,
        window: UInt16 = 65_535,
        identification: UInt16 = 0,
        payload: UnsafeRawBufferPointer
    ) -> [UInt8] {
        var segment: [UInt8] = []
        segment.reserveCapacity(20 + payload.count)
        segment.append16(source.port)
        segment.append16(destination.port)
        segment.append32(sequence)
        segment.append32(flags.contains(.ack) ? acknowledgement : 0)
        segment.append(5 << 4)  // data offset: 5 words, no options
        segment.append(flags.rawValue)
        segment.append16(window)
        segment.append16(0)  // checksum, filled below
        segment.append16(0)  // urgent pointer
        segment.append(contentsOf: payload)
        let checksum = Self.transportChecksum(source: source, destination: destination, protocol: Self.ipProtocolTCP, segment: segment)
        segment.withUnsafeMutableBytes { $0.storeBytes(of: checksum, toByteOffset: 16, as: UInt16.self) }
        return Self.ip(source: source, destination: destination, protocol: Self.ipProtocolTCP, identification: identification, payload: segment)
    }

    /// A UDP datagram from `source` to `destination` (same address family).
    package static func udp(source: IPEndpoint, destination: IPEndpoint, identification: UInt16 = 0, payload: UnsafeRawBufferPointer) -> [UInt8] {
        var datagram: [UInt8] = []
        datagram.reserveCapacity(8 + payload.count)
        datagram.append16(source.port)
        datagram.append16(destination.port)
        datagram.append16(UInt16(truncatingIfNeeded: 8 + payload.count))
        datagram.append16(0)
        datagram.append(contentsOf: payload)
        var checksum = Self.transportChecksum(source: source, destination: destination, protocol: Self.ipProtocolUDP, segment: datagram)
        if checksum == 0 { checksum = 0xFFFF }  // 0 means "none" in UDP
        datagram.withUnsafeMutableBytes { $0.storeBytes(of: checksum, toByteOffset: 6, as: UInt16.self) }
        return Self.ip(source: source, destination: destination, protocol: Self.ipProtocolUDP, identification: identification, payload: datagram)
    }

    private static func ip(source: IPEndpoint, destination: IPEndpoint, protocol number: UInt8, identification: UInt16, payload: [UInt8]) -> [UInt8] {
        var packet: [UInt8] = []
        if source.isIPv6 {
            packet.reserveCapacity(40 + payload.count)
            packet.append32(6 << 28)  // version 6, traffic class 0, flow label 0
            packet.append16(UInt16(truncatingIfNeeded: payload.count))
            packet.append(number)
            packet.append(64)  // hop limit
            packet.append(contentsOf: source.address)
            packet.append(contentsOf: destination.address)
        } else {
            packet.reserveCapacity(20 + payload.count)
            packet.append(0x45)  // version 4, header length 5 words
            packet.append(0)
            packet.append16(UInt16(truncatingIfNeeded: 20 + payload.count))
            packet.append16(identification)
            packet.append16(0x4000)  // don't fragment
            packet.append(64)  // TTL
            packet.append(number)
            packet.append16(0)
            packet.append(contentsOf: source.address)
            packet.append(contentsOf: destination.address)
            let checksum = Self.finish(packet.withUnsafeBytes { Self.nativeSum($0) })
            packet.withUnsafeMutableBytes { $0.storeBytes(of: checksum, toByteOffset: 10, as: UInt16.self) }
        }
        packet.append(contentsOf: payload)
        return packet
    }

    /// The TCP/UDP checksum: one's complement over the pseudo-header and the segment.
    ///
    /// Computed in the host's byte order, 32 bits at a time, and stored back in host
    /// order (RFC 1071: the one's complement sum is independent of byte order, so the
    /// stored bytes come out right on either endianness). Returns the value to store.
    private static func transportChecksum(source: IPEndpoint, destination: IPEndpoint, protocol number: UInt8, segment: [UInt8]) -> UInt16 {
        var pseudo: [UInt8] = source.address + destination.address
        if source.isIPv6 {
            pseudo.append32(UInt32(segment.count))
            pseudo.append32(UInt32(number))
        } else {
            pseudo.append(0)
            pseudo.append(number)
            pseudo.append16(UInt16(truncatingIfNeeded: segment.count))
        }
        let total = pseudo.withUnsafeBytes { Self.nativeSum($0) } &+ segment.withUnsafeBytes { Self.nativeSum($0) }
        return Self.finish(total)
    }

    /// The unfolded one's complement sum of `bytes` read in host order; an odd last
    /// byte counts as if followed by a zero byte.
    static func nativeSum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var total: UInt64 = 0
        var offset = 0
        while offset + 4 <= bytes.count {
            total &+= UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            offset += 4
        }
        if offset + 2 <= bytes.count {
            total &+= UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            offset += 2
        }
        if offset < bytes.count {
            var last: UInt16 = 0
            withUnsafeMutableBytes(of: &last) { $0[0] = bytes[offset] }
            total &+= UInt64(last)
        }
        return total
    }

    private static func finish(_ total: UInt64) -> UInt16 {
        var folded = total
        while folded > 0xFFFF { folded = (folded & 0xFFFF) + (folded >> 16) }
        return ~UInt16(folded)
    }
}

extension Array where Element == UInt8 {
    mutating func append16(_ value: UInt16) {
        self.append(UInt8(value >> 8))
        self.append(UInt8(value & 0xFF))
    }

    mutating func append32(_ value: UInt32) {
        self.append(UInt8(value >> 24))
        self.append(UInt8((value >> 16) & 0xFF))
        self.append(UInt8((value >> 8) & 0xFF))
        self.append(UInt8(value & 0xFF))
    }
}
