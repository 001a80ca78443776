extension Profile {
    /// Refuses a profile whose message rules a TCP proxy framed as `framing` cannot
    /// carry out: message rules on an unframed proxy (they would never fire, silently),
    /// or a `respond` whose reply the protocol cannot carry (an HTTP status on RESP).
    /// Each issue names the rule where it was written.
    ///
    /// - Parameters:
    ///   - howToFrame: how a user gives this proxy framing, said when it has none (the
    ///     command line's flag; a run file and the control API say it their way).
    ///   - framingSetting: what the framing in force is called where the user set it.
    package func checkMessageRules(
        framing: Framing,
        howToFrame: String = "run with --framing http, resp, line or length, or say 'framing:' in the profile",
        framingSetting: String = "--framing"
    ) throws(ProfileError) {
        var issues: [ProfileIssue] = []
        for rule in self.rules where rule.actsOnMessages && type(of: rule.fault).layer != .datagram {
            if framing == .raw {
                issues.append(
                    ProfileIssue(
                        rule.location,
                        "rule '\(rule.name)' acts on whole messages, so the proxy must frame them: \(howToFrame)"
                    )
                )
            } else if let respond = rule.fault as? RespondFault, let problem = respond.reply.problem(for: framing) {
                issues.append(ProfileIssue(rule.location, "rule '\(rule.name)': with \(framingSetting) \(framing.rawValue), \(problem)"))
            }
        }
        if !issues.isEmpty { throw ProfileError(issues) }
    }
}
