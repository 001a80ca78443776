import Pcap

/// Rebuilds TCP byte streams from captured packets, ordered by sequence number.
///
/// Works on faultline's own synthetic captures (link type RAW) and on live captures
/// (Ethernet, Linux cooked, loopback). Retransmitted or overlapping bytes are taken once;
/// holes are counted in `missingBytes`. Streams come out in the order their first packet
/// appears, which for a faultline capture is connection order, client leg first.
package enum TCPStreamReassembler {
    /// The largest hole (bytes the capture never showed) filled with zeros; a stream
    /// ends at a larger one. 1 MiB is more than a capture usually loses at once; a segment
    /// gigabytes ahead comes from a damaged or hostile file.
    package static let maxHoleBytes = 1 << 20

    /// Reads the capture at `path` and reassembles every TCP stream in it.
    ///
    /// - Throws: `PcapError(.file)` if the file cannot be read.
    package static func streams(fromCaptureAt path: String) throws -> [TCPStream] {
        let (linkType, packets) = try PcapOfflineReader.readAll(path: path)
        return Self.streams(packets: packets, linkType: linkType)
    }

    /// One TCP segment's facts, parsed from a packet.
    struct Segment {
        var source: IPEndpoint
        var destination: IPEndpoint
        var sequence: UInt32
        var flags: PacketBuilder.TCPFlags
        var payload: ArraySlice<UInt8>
    }

    private struct Direction {
        var base: UInt32?
        var pieces: [(offset: UInt32, bytes: ArraySlice<UInt8>)] = []
        var fin = false
    }

    private struct Builder {
        var stream: TCPStream
        var toServer = Direction()
        var toClient = Direction()

        mutating func finish() -> TCPStream {
            var stream = self.stream
            (stream.clientToServer, stream.missingBytes) = Self.assemble(self.toServer)
            let (back, missing) = Self.assemble(self.toClient)
            stream.serverToClient = back
            stream.missingBytes += missing
            return stream
        }

        static func assemble(_ direction: Direction) -> ([UInt8], Int) {
            var bytes: [UInt8] = []
            var missing = 0
            for piece in direction.pieces.sorted(by: { $0.offset < $1.offset }) {
                let offset = Int(piece.offset)
                let end = offset + piece.bytes.count
                if end <= bytes.count { continue }
                if offset > bytes.count {
                    // A hole is filled with zeros, up to a bound: a damaged or hostile
                    // capture can put a segment 4 GiB ahead, and filling that would
                    // take 4 GiB. Beyond the bound the stream ends at the hole.
                    guard offset - bytes.count <= TCPStreamReassembler.maxHoleBytes else {
                        missing += offset - bytes.count
                        break
                    }
                    missing += offset - bytes.count
                    bytes.append(contentsOf: repeatElement(0, count: offset - bytes.count))
                }
                bytes.append(contentsOf: piece.bytes.dropFirst(bytes.count - offset))
            }
            return (bytes, missing)
        }
    }

    package static func streams(packets: [PcapPacket], linkType: LinkType) -> [TCPStream] {
        var open: [Set<IPEndpoint>: Int] = [:]
        var builders: [Builder] = []
        for packet in packets {
            guard let segment = Self.parse(packet.data[...], linkType: linkType) else { continue }
            let key: Set<IPEndpoint> = [segment.source, segment.destination]
            let isOpeningSYN = segment.flags.contains(.syn) && !segment.flags.contains(.ack)
            var index = open[key]
            if let current = index, isOpeningSYN, Self.hasProgress(builders[current]) {
                index = nil  // the 4-tuple is reused by a new connection
            }
            if index == nil {
                var stream = TCPStream(client: segment.source, server: segment.destination)
                if segment.flags.contains(.syn) && segment.flags.contains(.ack) {
                    swap(&stream.client, &stream.server)
                }
                stream.firstSeconds = packet.seconds
                stream.firstMicroseconds = packet.microseconds
                builders.append(Builder(stream: stream))
                index = builders.count - 1
                open[key] = index
            }
            guard let found = index else { continue }
            Self.add(segment, to: &builders[found])
        }
        return builders.map { var builder = $0; return builder.finish() }
    }

    private static func hasProgress(_ builder: Builder) -> Bool {
        builder.stream.reset || builder.toServer.fin || builder.toClient.fin
            || !builder.toServer.pieces.isEmpty || !builder.toClient.pieces.isEmpty
    }

    private static func add(_ segment: Segment, to builder: inout Builder) {
        let fromClient = segment.source == builder.stream.client
        var direction = fromClient ? builder.toServer : builder.toClient
        if segment.flags.contains(.syn) {
            builder.stream.sawSYN = true
            direction.base = segment.sequence &+ 1
        }
        if segment.flags.contains(.rst) { builder.stream.reset = true }
        if !segment.payload.isEmpty {
            if direction.base == nil { direction.base = segment.sequence }
            let offset = segment.sequence &- direction.base!
            if offset < 0x8000_0000 { direction.pieces.append((offset, segment.payload)) }
        }
        if segment.flags.contains(.fin) {
            direction.fin = true
            if fromClient { builder.stream.clientFIN = true } else { builder.stream.serverFIN = true }
        }
        if fromClient { builder.toServer = direction } else { builder.toClient = direction }
    }

    /// The TCP segment in one captured packet, or nil if it holds none.
    static func parse(_ data: ArraySlice<UInt8>, linkType: LinkType) -> Segment? {
        var ip = data
        switch linkType {
        case .raw, .linktypeRaw:
            break
        case .ethernet:
            guard data.count >= 14 else { return nil }
            var etherType = UInt16(data[data.startIndex + 12]) << 8 | UInt16(data[data.startIndex + 13])
            var headerLength = 14
            if etherType == 0x8100, data.count >= 18 {  // one 802.1Q tag
                etherType = UInt16(data[data.startIndex + 16]) << 8 | UInt16(data[data.startIndex + 17])
                headerLength = 18
            }
            guard etherType == 0x0800 || etherType == 0x86DD else { return nil }
            ip = data.dropFirst(headerLength)
        case .null, .loop:
            ip = data.dropFirst(4)
        case .linuxSLL:
            guard data.count >= 16 else { return nil }
            let proto = UInt16(data[data.startIndex + 14]) << 8 | UInt16(data[data.startIndex + 15])
            guard proto == 0x0800 || proto == 0x86DD else { return nil }
            ip = data.dropFirst(16)
        case .linuxSLL2:
            guard data.count >= 20 else { return nil }
            let proto = UInt16(data[data.startIndex]) << 8 | UInt16(data[data.startIndex + 1])
            guard proto == 0x0800 || proto == 0x86DD else { return nil }
            ip = data.dropFirst(20)
        default:
            return nil
        }
        return Self.parseIP(ip)
    }

    private static func parseIP(_ ip: ArraySlice<UInt8>) -> Segment? {
        guard let first = ip.first else { return nil }
        let s = ip.startIndex
        let sourceAddress: [UInt8]
        let destinationAddress: [UInt8]
        var tcp: ArraySlice<UInt8>
        switch first >> 4 {
        case 4:
            let headerLength = Int(first & 0x0F) * 4
            guard ip.count >= headerLength, headerLength >= 20, ip[s + 9] == PacketBuilder.ipProtocolTCP else { return nil }
            let fragment = UInt16(ip[s + 6]) << 8 | UInt16(ip[s + 7])
            guard fragment & 0x1FFF == 0 else { return nil }  // later fragments: not handled
            let total = min(ip.count, Int(UInt16(ip[s + 2]) << 8 | UInt16(ip[s + 3])))
            sourceAddress = Array(ip[(s + 12)..<(s + 16)])
            destinationAddress = Array(ip[(s + 16)..<(s + 20)])
            tcp = ip[(s + headerLength)..<(s + max(total, headerLength))]
        case 6:
            guard ip.count >= 40, ip[s + 6] == PacketBuilder.ipProtocolTCP else { return nil }
            let payloadLength = Int(UInt16(ip[s + 4]) << 8 | UInt16(ip[s + 5]))
            sourceAddress = Array(ip[(s + 8)..<(s + 24)])
            destinationAddress = Array(ip[(s + 24)..<(s + 40)])
            tcp = ip[(s + 40)..<(s + 40 + min(payloadLength, ip.count - 40))]
        default:
            return nil
        }
        guard tcp.count >= 20 else { return nil }
        let t = tcp.startIndex
        let offset = Int(tcp[t + 12] >> 4) * 4
        guard offset >= 20, tcp.count >= offset else { return nil }
        let sequence = UInt32(tcp[t + 4]) << 24 | UInt32(tcp[t + 5]) << 16 | UInt32(tcp[t + 6]) << 8 | UInt32(tcp[t + 7])
        let sourcePort = UInt16(tcp[t]) << 8 | UInt16(tcp[t + 1])
        let destinationPort = UInt16(tcp[t + 2]) << 8 | UInt16(tcp[t + 3])
        let flags = PacketBuilder.TCPFlags(rawValue: tcp[t + 13] & 0x1F)
        tcp = tcp.dropFirst(offset)
        return Segment(
            source: IPEndpoint(address: sourceAddress, port: sourcePort),
            destination: IPEndpoint(address: destinationAddress, port: destinationPort),
            sequence: sequence,
            flags: flags,
            payload: tcp
        )
    }
}
