/// Every fault kind, by the name profiles use.
///
/// A new kind is one file in `Faults/` and one entry here. The UDP datagram kinds
/// (`loss`, `corrupt`, `rate`...) and the framed message kinds (`drop`, `duplicate`,
/// `reorder`, `respond`) join the same list with their own `layer`.
public enum FaultRegistry {
    public static let kinds: [any Fault.Type] = [
        DelayFault.self,
        BandwidthFault.self,
        SliceFault.self,
        BlackholeFault.self,
        SeverFault.self,
        RefuseFault.self,
        HangFault.self,
        DropFault.self,
        MessageDuplicateFault.self,
        MessageReorderFault.self,
        RespondFault.self,
    ]

    /// The kind spelled `name`, if registered.
    public static func kind(named name: String) -> (any Fault.Type)? {
        self.kinds.first { $0.kind == name }
    }

    /// All names, in registry order, for messages.
    public static var names: [String] {
        self.kinds.map { $0.kind }
    }
}
