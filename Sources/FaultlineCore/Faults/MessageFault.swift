/// A fault kind that acts on whole framed messages (requests and replies) rather than
/// on chunks of a byte stream: it needs `--framing` (or `framing:` in the profile).
///
/// `drop`, `duplicate`, `reorder` and `respond` always do; `sever` does when it names a
/// point in a message (`at:`). Some act on requests only (answering, duplicating or
/// holding back a reply means nothing): a rule with one of those is never consulted for
/// replies, so `direction: both` (the default) still means "every request".
package protocol MessageFault: Fault {
    /// True when this instance acts on framed messages.
    var actsOnMessages: Bool { get }
    /// True when it acts on requests (client to server) only.
    var requestsOnly: Bool { get }
}

extension Rule {
    /// True when the rule acts on framed messages (or datagrams), never on raw chunks:
    /// a message match, a message or datagram kind, `per: message`, or a sever at a
    /// point in a message.
    package var actsOnMessages: Bool {
        if self.match.message != nil || type(of: self.fault).layer != .stream || self.per == .message { return true }
        return (self.fault as? any MessageFault)?.actsOnMessages ?? false
    }

    /// True when the rule can act on messages travelling in `direction`: request-only
    /// kinds never act on replies.
    package func applies(to direction: Event.Direction) -> Bool {
        guard direction == .downstream, let fault = self.fault as? any MessageFault else { return true }
        return !fault.requestsOnly
    }
}

extension FaultPlan {
    /// True when some rule acts on framed messages: framed connections then get a
    /// message stage, and an unframed proxy refuses the profile.
    package var hasMessageRules: Bool {
        self.profile.rules.contains { $0.actsOnMessages && type(of: $0.fault).layer != .datagram }
    }
}
