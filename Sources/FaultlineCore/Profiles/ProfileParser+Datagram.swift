import Yams

/// What a `transport: udp` profile may not say, reported where it is written.
///
/// The UDP engine decides every rule per datagram, by session and datagram ordinal,
/// direction, the session's client address, and time (windows, the schedule); it has no
/// framing, no per-session decisions and no attempt numbers when it decides. A profile that asks for one of those would
/// silently not get it, so it is refused.
extension ProfileParser {
    static func checkDatagramProfile(_ top: ReaderFields, reader: ProfileReader) {
        if let key = top.key("framing") {
            reader.fail(key, "a 'transport: udp' profile has no framing: each datagram is one message already (leave framing out)")
        }
    }

    /// False, after reporting, when the rule asks for what UDP cannot do.
    static func checkDatagramRule(_ fields: ReaderFields, what: String, reader: ProfileReader) -> Bool {
        var fits = true
        if let node = fields["per"], case .scalar(let scalar) = node, scalar.string != DecisionScope.message.rawValue,
            DecisionScope(rawValue: scalar.string) != nil
        {
            reader.fail(node, "\(what): with 'transport: udp' every rule is decided per datagram; leave per out (or write 'per: message')")
            fits = false
        }
        if let node = fields["match"], case .mapping(let match) = node {
            for (key, _) in match {
                switch key.scalar?.string {
                case "method", "path", "header", "command":
                    reader.fail(key, "\(what): datagrams have no method, path, header or command; with 'transport: udp', match.message selects datagram ordinals only")
                    fits = false
                case "attempt":
                    reader.fail(key, "\(what): datagram rules are decided before a datagram's attempt is known; with 'transport: udp', match.message selects datagram ordinals")
                    fits = false
                default:
                    break
                }
            }
        }
        return fits
    }
}
