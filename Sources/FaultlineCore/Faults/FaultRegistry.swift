/// Every fault kind, by the name profiles use.
///
/// A new kind is one file in `Faults/` and one entry here. The UDP datagram kinds
/// (`layer: .datagram`) run only in profiles that say `transport: udp`; a name may be
/// registered twice when TCP and UDP mean different things by it (a duplicated request
/// on TCP, a duplicated datagram on UDP): `kind(named:for:)` picks by transport. The
/// framed message kinds (`drop`, `respond`...) join the same list with their own `layer`.
package enum FaultRegistry {
    package static let kinds: [any Fault.Type] = [
        DelayFault.self,
        BandwidthFault.self,
        SliceFault.self,
        BlackholeFault.self,
        SeverFault.self,
        RefuseFault.self,
        HangFault.self,
        SlowCloseFault.self,
        DatagramLossFault.self,
        DatagramDuplicateFault.self,
        DatagramReorderFault.self,
        DatagramCorruptFault.self,
        DatagramRateFault.self,
        DropFault.self,
        MessageDuplicateFault.self,
        MessageReorderFault.self,
        RespondFault.self,
    ]

    /// The kind spelled `name` that a profile for `transport` can use, if registered.
    package static func kind(named name: String, for transport: ProfileTransport) -> (any Fault.Type)? {
        self.kinds.first { $0.kind == name && transport.carries($0) }
    }

    /// All names, in registry order, for messages.
    package static var names: [String] {
        self.unique(self.kinds.map { $0.kind })
    }

    /// The names a profile for `transport` can use, in registry order.
    package static func names(for transport: ProfileTransport) -> [String] {
        self.unique(self.kinds.filter(transport.carries).map { $0.kind })
    }

    private static func unique(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }
}
