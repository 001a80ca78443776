extension ProfileChecks {
    /// Checks of one rule that acts on framed messages: it can fire, and what it asks
    /// for fits the profile's framing.
    static func checkMessageRule(_ rule: Rule, profile: Profile, reader: ProfileReader) {
        let never = "rule '\(rule.name)' can never fire"
        if let attempts = rule.match.message?.attempts, !attempts.selectsAny {
            reader.fail(at: rule.location, "\(never): match.attempt selects no attempt")
        }
        if rule.match.direction == .downstream, !rule.applies(to: .downstream) {
            reader.fail(at: rule.location, "\(never): a \(rule.kind) fault\(Self.atPoint(rule)) acts on requests only, and the rule matches direction: downstream")
        }
        if let sever = rule.fault as? SeverFault, sever.after != nil, rule.match.message != nil || rule.per == .message {
            reader.fail(at: rule.location, "rule '\(rule.name)': 'after' times a cut from the connection's open, whatever its messages; to cut at a message, use 'at: before|mid_message|after|first_reply_byte' or 'after_bytes' (an offset into the message)")
        }
        if rule.fault is SlowCloseFault, rule.match.message != nil {
            reader.fail(at: rule.location, "\(never): a slow_close holds the end of stream, which is no message; remove the message match (method, path, header, command, message, attempt)")
        }
        if let respond = rule.fault as? RespondFault, let framing = profile.framing, framing != .raw,
            let problem = respond.reply.problem(for: framing)
        {
            reader.fail(at: rule.location, "rule '\(rule.name)': the profile says 'framing: \(framing.rawValue)', and \(problem)")
        }
    }

    private static func atPoint(_ rule: Rule) -> String {
        guard let at = (rule.fault as? SeverFault)?.at else { return "" }
        return " at \(at.rawValue)"
    }
}
