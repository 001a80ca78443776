/// Checks that need the merged profile: rules that can never fire, phases that name
/// rules that do not exist, message rules without a framing that can carry them.
enum ProfileChecks {
    /// - Parameter partial: the file has other problems, so some of its rules are
    ///   missing: nothing that depends on every rule or phase being there is checked (a
    ///   phase naming a rule that failed to parse, a rule or inherited rule no phase
    ///   turns on).
    static func check(_ profile: Profile, document: ProfileDocument, reader: ProfileReader, partial: Bool = false) {
        let names = Set(profile.rules.map(\.name))
        if !partial, let schedule = document.schedule {
            for (index, phase) in schedule.phases.enumerated() {
                for (position, rule) in phase.rules.enumerated() where !names.contains(rule) {
                    let location = document.phaseRuleLocations[index][position]
                    let suggestion = ProfileReader.closest(to: rule, in: Array(names)).map { " (did you mean '\($0)'?)" } ?? ""
                    reader.fail(at: location, "phase '\(phase.name)' names rule '\(rule)', which no rule has\(suggestion)")
                }
            }
        }
        // Only the profile's own rules are reported here: inherited ones were checked in
        // their own file, and a location in another file would confuse.
        let own = Set(document.rules.map(\.name))
        // Partial: a phase that failed to parse may be the one that turns a rule on.
        let scheduled = partial ? nil : profile.schedule.map { Set($0.phases.flatMap(\.rules)) }
        if !partial, let location = document.scheduleLocation, let scheduled {
            for rule in profile.rules where !own.contains(rule.name) && !scheduled.contains(rule.name) {
                reader.fail(at: location, "inherited rule '\(rule.name)' can never fire: no phase of this schedule turns it on")
            }
        }
        for rule in profile.rules where own.contains(rule.name) {
            let never = "rule '\(rule.name)' can never fire"
            if rule.probability == 0 {
                reader.fail(at: rule.location, "\(never): its probability is 0 (remove it, or give a chance above 0)")
            }
            if let ordinals = rule.match.connections, !ordinals.selectsAny {
                reader.fail(at: rule.location, "\(never): match.connections selects no connection (first \(ordinals.first.map(String.init) ?? "-"), every \(ordinals.every.map(String.init) ?? "-"), skip \(ordinals.skip))")
            }
            if let ordinals = rule.match.message?.ordinals, !ordinals.selectsAny {
                reader.fail(at: rule.location, "\(never): match.message selects no message")
            }
            if let window = rule.window, let length = window.length, length == .zero {
                reader.fail(at: rule.location, "\(never): its window lasts 0s")
            }
            if let scheduled, !scheduled.contains(rule.name) {
                reader.fail(at: rule.location, "\(never): the schedule's phases never turn it on (list it in a phase's rules)")
            }
            let layer = type(of: rule.fault).layer
            if profile.framing == .raw, rule.match.message != nil || layer == .message || rule.per == .message || rule.actsOnMessages {
                reader.fail(at: rule.location, "\(never): it matches messages but the profile says 'framing: raw' (use line, length, http or resp)")
            }
            if let client = rule.match.client, client.blocks.isEmpty {
                reader.fail(at: rule.location, "\(never): match.client lists no address")
            }
            Self.checkMessageRule(rule, profile: profile, reader: reader)
        }
    }
}
