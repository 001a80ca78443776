/// Which proxy a profile is written for: the TCP proxy, or the UDP proxy
/// (`faultline proxy --udp`). A profile says `transport: udp`; without it, it is TCP.
///
/// Declared, not guessed from the kinds, because the same name means different things
/// on each (TCP's `delay` keeps order, a datagram's does not) and a profile should read
/// the same alone as in a run. So `profile validate` refuses a TCP-only kind in a UDP
/// profile, or the other way round, at its `kind:`, before any proxy runs. Not
/// inherited: a profile extends only profiles of its own transport.
package enum ProfileTransport: String, Sendable, CaseIterable, Equatable {
    case tcp
    case udp

    /// Whether this transport's proxy carries out `kind`: UDP takes the datagram kinds
    /// and `delay`; TCP every kind but the datagram ones.
    package func carries(_ kind: any Fault.Type) -> Bool {
        switch self {
        case .tcp: kind.layer != .datagram
        case .udp: kind is any DatagramCarried.Type
        }
    }

    /// The command that runs a profile of this transport, for messages.
    var command: String {
        switch self {
        case .tcp: "faultline proxy"
        case .udp: "faultline proxy --udp"
        }
    }

    /// Why `kind`, which only `other` carries, cannot be in a profile for this transport.
    func refusal(of kind: String, carriedBy other: ProfileTransport) -> String {
        let valid = FaultRegistry.names(for: self).joined(separator: ", ")
        switch self {
        case .tcp:
            let hint = kind == DatagramRateFault.kind ? " (a TCP rate limit is kind: bandwidth)" : ""
            return "\(kind) is a UDP datagram fault\(hint); a profile that uses it says 'transport: udp' and runs with '\(other.command)'. TCP kinds: \(valid)"
        case .udp:
            let hint = kind == BandwidthFault.kind ? " (a UDP rate limit is kind: rate)" : kind == DropFault.kind ? " (a lost datagram is kind: loss)" : ""
            return "\(kind) is a TCP fault and cannot act on datagrams\(hint); this profile says 'transport: udp', whose kinds are \(valid)"
        }
    }
}

extension Profile {
    /// Refuses to run a profile on the proxy of the other transport (exit status 2).
    package func require(_ transport: ProfileTransport) throws(ProfileError) {
        guard self.transport != transport else { return }
        let says = self.transport == .udp ? "says 'transport: udp'" : "is for TCP (it does not say 'transport: udp')"
        throw ProfileError(
            ProfileLocation(file: self.source),
            "profile '\(self.name)' \(says); run it with '\(self.transport.command)', not '\(transport.command)'"
        )
    }

    /// The profile as the UDP engine runs it: every rule decided per datagram (`per:
    /// message`, as the parser reads a `transport: udp` profile, so rules built in code
    /// need not say so). A profile without rules fits either proxy: it is what a proxy
    /// runs without one (`Profile.none`).
    ///
    /// - Throws: `ProfileError` for a TCP profile, or a rule (built in code; the parser
    ///   refuses these) whose kind the UDP engine does not carry out.
    package func forDatagrams() throws(ProfileError) -> Profile {
        guard !self.rules.isEmpty else { return self }
        try self.require(.udp)
        var profile = self
        for index in profile.rules.indices {
            let rule = profile.rules[index]
            guard rule.fault is any DatagramCarried else {
                throw ProfileError(rule.location, "rule '\(rule.name)': " + ProfileTransport.udp.refusal(of: rule.kind, carriedBy: .tcp))
            }
            profile.rules[index].per = .message
        }
        return profile
    }
}
