import Yams

/// Reads one profile text (YAML, or JSON, which YAML reads too) into a
/// `ProfileDocument`, reporting every problem with its line and column.
///
/// It checks what one file can check alone: keys, types, ranges, durations, fault
/// parameters, duplicate rule names. What needs the whole `extends` chain (rules that
/// can never fire, phases naming rules) is checked by `ProfileLoader`.
package enum ProfileParser {
    package static let topKeys = ["faultline", "name", "description", "seed", "framing", "transport", "extends", "rules", "schedule"]
    package static let ruleKeys = ["name", "match", "probability", "per", "fault", "window"]
    package static let matchKeys = ["direction", "connections", "client", "method", "path", "header", "command", "message", "attempt"]
    package static let ordinalKeys = ["first", "every", "skip"]
    package static let windowKeys = ["from", "after", "for"]
    package static let scheduleKeys = ["repeat", "phases"]
    package static let phaseKeys = ["name", "duration", "rules"]

    /// Parses `text`; problems go to `reader` (whose file names the locations).
    package static func parse(_ text: String, reader: ProfileReader) -> ProfileDocument {
        var document = ProfileDocument(file: reader.file, text: text)
        let root: Node?
        do {
            root = try YAMLFile.compose(text, file: reader.file, kind: "a profile")
        } catch {
            for issue in error.issues { reader.fail(at: issue.location, issue.message) }
            return document
        }
        guard let root else {
            reader.fail(at: ProfileLocation(file: reader.file, line: 1, column: 1), "the file is empty; a profile starts with 'faultline: 1'")
            return document
        }
        guard let top = reader.mapping(root, what: "a profile", allowed: Self.topKeys) else { return document }

        if let version = reader.required(top, "faultline", what: "a profile (format version, 'faultline: 1')") {
            if let number = reader.integer(version, what: "faultline (the format version)"), number != Profile.formatVersion {
                reader.fail(version, "unsupported format version \(number); this build reads 'faultline: \(Profile.formatVersion)'")
            }
        }
        document.name = reader.required(top, "name", what: "a profile").flatMap { reader.nonEmptyString($0, what: "name") }
        document.description = reader.required(top, "description", what: "a profile (say what it simulates and what a correct client should do)")
            .flatMap { reader.nonEmptyString($0, what: "description") }
        if let node = top["seed"] {
            if case .scalar(let scalar) = node, let seed = UInt64(scalar.string) {
                document.seed = seed
            } else {
                reader.fail(node, "seed must be a whole number from 0 to \(UInt64.max), got \(ProfileReader.describe(node))")
            }
        }
        document.framing = reader.optional(top, "framing") { reader.choice($0, what: "framing", as: Profile.Framing.self) }
        document.transport = reader.optional(top, "transport") { reader.choice($0, what: "transport", as: ProfileTransport.self) } ?? .tcp
        if document.transport == .udp { Self.checkDatagramProfile(top, reader: reader) }
        if let node = top["extends"], let items = reader.list(node, what: "extends", singleAllowed: true) {
            for item in items {
                if let name = reader.nonEmptyString(item, what: "extends (a profile name or a relative path)") {
                    document.extends.append(.init(name: name, location: reader.location(of: item)))
                }
            }
        }
        if let node = top["rules"], let items = reader.list(node, what: "rules") {
            var seen: [String: ProfileLocation] = [:]
            for item in items {
                let rule = Self.rule(item, transport: document.transport, reader: reader)
                // A rule with other problems still has its name: a second use is said too.
                guard let name = rule?.name ?? item["name"]?.scalar?.string, !name.isEmpty else { continue }
                if let earlier = seen[name] {
                    reader.fail(item, "a rule named '\(name)' is already defined at \(earlier); rule names must be unique")
                    continue
                }
                seen[name] = rule?.location ?? reader.location(of: item)
                if let rule { document.rules.append(rule) }
            }
        }
        if let node = top["schedule"] {
            document.scheduleLocation = reader.location(of: node)
            (document.schedule, document.phaseRuleLocations) = Self.schedule(node, reader: reader)
        }
        return document
    }

    // MARK: Rules

    static func rule(_ node: Node, transport: ProfileTransport = .tcp, reader: ProfileReader) -> Rule? {
        guard let fields = reader.mapping(node, what: "a rule", allowed: Self.ruleKeys) else { return nil }
        let location = reader.location(of: node)
        let name = reader.required(fields, "name", what: "a rule").flatMap { reader.nonEmptyString($0, what: "rule name") }
        let what = name.map { "rule '\($0)'" } ?? "a rule"
        var match: RuleMatch? = RuleMatch()
        if let node = fields["match"] { match = Self.match(node, reader: reader) }
        let probability = reader.optional(fields, "probability") { reader.number($0, what: "probability", in: 0...1) }
        let per = reader.optional(fields, "per") { reader.choice($0, what: "per", as: DecisionScope.self) }
        let window = reader.optional(fields, "window") { Self.window($0, reader: reader) }
        let fault = reader.required(fields, "fault", what: what).flatMap { Self.fault($0, transport: transport, reader: reader) }
        let fits = transport != .udp || Self.checkDatagramRule(fields, what: what, reader: reader)
        guard let name, let match, let fault, fits,
            fields["probability"] == nil || probability != nil,
            fields["per"] == nil || per != nil,
            fields["window"] == nil || window != nil
        else { return nil }
        let scope = per ?? (transport == .udp ? .message : .connection)
        let kind = type(of: fault)
        if !kind.scopes.contains(scope) {
            reader.fail(fields["per"], "\(what): a \(kind.kind) fault is decided per \(kind.scopes.map(\.rawValue).joined(separator: " or ")), not per \(scope.rawValue)")
            return nil
        }
        if scope == .chunk, let sever = fault as? SeverFault, sever.afterBytes != nil || sever.after != nil {
            reader.fail(fields["per"], "\(what): after_bytes and after place one cut per connection; use 'per: connection' (per chunk, a sever cuts before the chunk it picks)")
            return nil
        }
        return Rule(
            name: name,
            match: match,
            probability: probability ?? 1,
            per: scope,
            fault: fault,
            window: window,
            location: location
        )
    }

    static func fault(_ node: Node, transport: ProfileTransport = .tcp, reader: ProfileReader) -> (any Fault)? {
        guard case .mapping(let mapping) = node else {
            reader.fail(node, "fault must be a mapping with a kind, e.g. {kind: delay, latency: 200ms}; got \(ProfileReader.describe(node))")
            return nil
        }
        guard let kindNode = mapping["kind"] else {
            reader.fail(node, "fault needs 'kind', one of \(FaultRegistry.names(for: transport).joined(separator: ", "))")
            return nil
        }
        guard let kindName = reader.string(kindNode, what: "fault kind") else { return nil }
        guard let kind = FaultRegistry.kind(named: kindName, for: transport) else {
            if let other = ProfileTransport.allCases.first(where: { FaultRegistry.kind(named: kindName, for: $0) != nil }) {
                reader.fail(kindNode, transport.refusal(of: kindName, carriedBy: other))
                return nil
            }
            let names = FaultRegistry.names(for: transport)
            let suggestion = ProfileReader.closest(to: kindName, in: names).map { " (did you mean '\($0)'?)" } ?? ""
            reader.fail(kindNode, "unknown fault kind '\(kindName)'\(suggestion); known kinds: \(names.joined(separator: ", "))")
            return nil
        }
        guard let fields = reader.mapping(node, what: "a \(kindName) fault", allowed: ["kind"] + kind.parameters) else { return nil }
        return kind.init(parameters: fields, reader: reader)
    }

    static func match(_ node: Node, reader: ProfileReader) -> RuleMatch? {
        guard let fields = reader.mapping(node, what: "match", allowed: Self.matchKeys) else { return nil }
        var match = RuleMatch()
        var ok = true
        func check<T>(_ value: T?, _ key: String) -> T? {
            if value == nil, fields.has(key) { ok = false }
            return value
        }
        if let direction = check(reader.optional(fields, "direction") { reader.choice($0, what: "direction", as: DirectionMatch.self) }, "direction") {
            match.direction = direction
        }
        match.connections = check(reader.optional(fields, "connections") { Self.ordinals($0, what: "connections", reader: reader) }, "connections")
        match.client = check(reader.optional(fields, "client") { Self.addresses($0, reader: reader) }, "client")
        var message = MessageMatch()
        var hasMessage = false
        if let methods = check(reader.optional(fields, "method") { Self.words($0, what: "method", reader: reader) }, "method") {
            message.methods = methods.map { $0.uppercased() }
            hasMessage = true
        }
        if let path = check(reader.optional(fields, "path") { reader.nonEmptyString($0, what: "path (a glob such as /orders/*)") }, "path") {
            message.path = PathGlob(path)
            hasMessage = true
        }
        if let header = check(reader.optional(fields, "header") { Self.header($0, reader: reader) }, "header") {
            message.header = header
            hasMessage = true
        }
        if let commands = check(reader.optional(fields, "command") { Self.words($0, what: "command", reader: reader) }, "command") {
            message.commands = commands.map { $0.uppercased() }
            hasMessage = true
        }
        if let ordinals = check(reader.optional(fields, "message") { Self.ordinals($0, what: "message", reader: reader) }, "message") {
            message.ordinals = ordinals
            hasMessage = true
        }
        if let attempts = check(reader.optional(fields, "attempt") { Self.ordinals($0, what: "attempt", reader: reader) }, "attempt") {
            message.attempts = attempts
            hasMessage = true
        }
        if hasMessage { match.message = message }
        return ok ? match : nil
    }

    static func ordinals(_ node: Node, what: String, reader: ProfileReader) -> ConnectionOrdinals? {
        guard let fields = reader.mapping(node, what: what, allowed: Self.ordinalKeys) else { return nil }
        let first = reader.optional(fields, "first") { reader.integer($0, what: "\(what).first") }
        let every = reader.optional(fields, "every") { reader.integer($0, what: "\(what).every", in: 1...Int.max) }
        let skip = reader.optional(fields, "skip") { reader.integer($0, what: "\(what).skip") }
        guard fields["first"] == nil || first != nil, fields["every"] == nil || every != nil, fields["skip"] == nil || skip != nil else {
            return nil
        }
        return ConnectionOrdinals(first: first.map(UInt64.init), every: every.map(UInt64.init), skip: UInt64(skip ?? 0))
    }

    static func addresses(_ node: Node, reader: ProfileReader) -> AddressMatch? {
        guard let items = reader.list(node, what: "client", singleAllowed: true) else { return nil }
        var blocks: [AddressMatch.Block] = []
        var ok = true
        for item in items {
            guard let text = reader.string(item, what: "client") else {
                ok = false
                continue
            }
            guard let block = AddressMatch.Block(text) else {
                reader.fail(item, "client must be an IP address or a CIDR block (10.0.0.0/8, ::1), got '\(text)'; profiles never name hosts")
                ok = false
                continue
            }
            blocks.append(block)
        }
        return ok ? AddressMatch(blocks: blocks) : nil
    }

    static func words(_ node: Node, what: String, reader: ProfileReader) -> [String]? {
        guard let items = reader.list(node, what: what, singleAllowed: true) else { return nil }
        let words = items.compactMap { reader.nonEmptyString($0, what: what) }
        return words.count == items.count ? words : nil
    }

    static func header(_ node: Node, reader: ProfileReader) -> MessageMatch.HeaderMatch? {
        if case .scalar = node {
            return reader.nonEmptyString(node, what: "header").map { MessageMatch.HeaderMatch(name: $0, value: nil) }
        }
        guard let fields = reader.mapping(node, what: "header", allowed: ["name", "value"]) else { return nil }
        let name = reader.required(fields, "name", what: "header").flatMap { reader.nonEmptyString($0, what: "header name") }
        let value = reader.optional(fields, "value") { reader.string($0, what: "header value") }
        guard let name, fields["value"] == nil || value != nil else { return nil }
        return MessageMatch.HeaderMatch(name: name, value: value)
    }

    static func window(_ node: Node, reader: ProfileReader) -> TimeWindow? {
        guard let fields = reader.mapping(node, what: "window", allowed: Self.windowKeys) else { return nil }
        let from = reader.optional(fields, "from") { reader.choice($0, what: "window.from", as: TimeWindow.Origin.self) }
        let after = reader.optional(fields, "after") { reader.duration($0, what: "window.after") }
        let length = reader.optional(fields, "for") { reader.duration($0, what: "window.for") }
        guard fields["from"] == nil || from != nil, fields["after"] == nil || after != nil, fields["for"] == nil || length != nil else {
            return nil
        }
        return TimeWindow(from: from ?? .connection, after: after ?? .zero, length: length)
    }

    // MARK: Schedule

    static func schedule(_ node: Node, reader: ProfileReader) -> (Schedule?, [[ProfileLocation]]) {
        guard let fields = reader.mapping(node, what: "schedule", allowed: Self.scheduleKeys) else { return (nil, []) }
        let repeats = reader.optional(fields, "repeat") { reader.boolean($0, what: "schedule.repeat") }
        guard let phasesNode = reader.required(fields, "phases", what: "schedule"),
            let items = reader.list(phasesNode, what: "schedule.phases")
        else { return (nil, []) }
        if items.isEmpty {
            reader.fail(phasesNode, "schedule.phases must list at least one phase")
            return (nil, [])
        }
        var phases: [Schedule.Phase] = []
        var locations: [[ProfileLocation]] = []
        var ok = fields["repeat"] == nil || repeats != nil
        for (index, item) in items.enumerated() {
            guard let phase = reader.mapping(item, what: "a phase", allowed: Self.phaseKeys) else {
                ok = false
                continue
            }
            let name = reader.optional(phase, "name") { reader.nonEmptyString($0, what: "phase name") } ?? "phase \(index + 1)"
            let duration = reader.optional(phase, "duration") { reader.duration($0, what: "phase duration") }
            if phase.has("duration"), duration == nil { ok = false }
            if duration == nil, !phase.has("duration") {
                if repeats == true {
                    reader.fail(item, "phase '\(name)' needs a duration: a repeating schedule cycles through phases that all end")
                    ok = false
                } else if index != items.count - 1 {
                    reader.fail(item, "phase '\(name)' needs a duration: only the last phase may last for ever")
                    ok = false
                }
            }
            if let duration, duration == .zero {
                reader.fail(phase["duration"], "phase '\(name)' has a zero duration, so its rules never act")
                ok = false
            }
            var names: [String] = []
            var nameLocations: [ProfileLocation] = []
            if let rulesNode = reader.required(phase, "rules", what: "phase '\(name)' (the rules it turns on; [] for none)"),
                let ruleItems = reader.list(rulesNode, what: "phase rules", singleAllowed: true)
            {
                for ruleItem in ruleItems {
                    if let ruleName = reader.nonEmptyString(ruleItem, what: "a phase's rule name") {
                        names.append(ruleName)
                        nameLocations.append(reader.location(of: ruleItem))
                    }
                }
            } else {
                ok = false
            }
            phases.append(Schedule.Phase(name: name, duration: duration, rules: names))
            locations.append(nameLocations)
        }
        return ok ? (Schedule(phases: phases, repeats: repeats ?? false), locations) : (nil, [])
    }
}
