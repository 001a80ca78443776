import FaultlineCore
import Foundation
import Testing

/// The library in `profiles/` validates, is built into the binary unchanged, and says
/// what it simulates and what a correct client does.
struct ShippedProfilesTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let required = [
        "request-lost", "slow-reply", "partition", "connection-refused", "flaky-network", "slow-drip", "lossy-udp", "reordering-udp",
        "server-crash-after-processing", "reply-lost", "duplicate-delivery",
        "server-crash-after-processing-post", "reply-lost-post", "duplicate-delivery-post",
    ]

    @Test(arguments: required)
    func shipsAndValidates(name: String) throws {
        let profile = try ProfileLoader(library: ShippedProfiles.all).load(name)
        #expect(profile.name == name)
        #expect(profile.description.contains("Simulates"))
        #expect(profile.description.contains("A correct client"))
        #expect(profile.source == "library:\(name)")
    }

    @Test func everyFileInProfilesValidatesFromDisk() throws {
        let folder = Self.repository.appendingPathComponent("profiles")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= Self.required.count)
        for file in files {
            _ = try ProfileLoader().load(folder.appendingPathComponent(file).path)
        }
    }

    /// Fails when `profiles/*.yaml` changed and `make profiles` was not run.
    @Test func generatedSourceMatchesTheFiles() throws {
        let folder = Self.repository.appendingPathComponent("profiles")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        let onDisk = try files.map { file in
            (String(file.dropLast(5)), try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8))
        }
        #expect(ShippedProfiles.all.map(\.name) == onDisk.map(\.0), "run 'make profiles'")
        for ((name, text), (_, fileText)) in zip(ShippedProfiles.all, onDisk) {
            #expect(text + "\n" == fileText, "\(name) is out of date: run 'make profiles'")
        }
    }

    @Test(arguments: required)
    func explainSaysWhatHappensAndWhatToDo(name: String) throws {
        let profile = try ProfileLoader().load(name)
        let text = ProfileExplainer.explain(profile)
        #expect(text.contains("What it does to traffic:"))
        #expect(text.contains("What a correct client should do:"))
        for rule in profile.rules {
            #expect(text.contains("'\(rule.name)'"))
        }
    }
}

/// The JSON Schema editors use says what the parser says.
struct ProfileSchemaTests {
    static func schema() throws -> [String: Any] {
        let url = ShippedProfilesTests.repository.appendingPathComponent("profiles/faultline-profile.schema.json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        return try #require(object as? [String: Any])
    }

    static func keys(_ object: Any?) -> Set<String> {
        Set(((object as? [String: Any])?["properties"] as? [String: Any])?.keys.map { $0 } ?? [])
    }

    @Test func keysMatchTheParser() throws {
        let schema = try Self.schema()
        let definitions = try #require(schema["definitions"] as? [String: Any])
        #expect(Self.keys(schema) == Set(ProfileParser.topKeys))
        #expect(Self.keys(definitions["rule"]) == Set(ProfileParser.ruleKeys))
        #expect(Self.keys(definitions["match"]) == Set(ProfileParser.matchKeys))
        #expect(Self.keys(definitions["window"]) == Set(ProfileParser.windowKeys))
        #expect(Self.keys(definitions["schedule"]) == Set(ProfileParser.scheduleKeys))
    }

    @Test func everyRegisteredFaultKindIsDescribed() throws {
        let definitions = try #require(try Self.schema()["definitions"] as? [String: Any])
        let fault = try #require(definitions["fault"] as? [String: Any])
        let kind = try #require((fault["properties"] as? [String: Any])?["kind"] as? [String: Any])
        #expect(Set(kind["enum"] as? [String] ?? []) == Set(FaultRegistry.names))
        let branches = try #require(fault["allOf"] as? [[String: Any]])
        // A name registered for TCP and for UDP has one branch with both parameter sets.
        for name in FaultRegistry.names {
            let branch = branches.first { branch in
                let condition = ((branch["if"] as? [String: Any])?["properties"] as? [String: Any])?["kind"] as? [String: Any]
                return condition?["const"] as? String == name
            }
            let parameters = Self.keys(branch?["then"]).subtracting(["kind"])
            let registered = FaultRegistry.kinds.filter { $0.kind == name }.flatMap { $0.parameters }
            #expect(parameters == Set(registered), "schema for \(name)")
        }
    }

    /// The kinds each transport's rules may name, as `kind(named:for:)` finds them.
    @Test(arguments: ProfileTransport.allCases)
    func kindsPerTransportMatchTheRegistry(transport: ProfileTransport) throws {
        let definitions = try #require(try Self.schema()["definitions"] as? [String: Any])
        let rule = try #require(definitions[transport == .udp ? "udpRule" : "tcpRule"] as? [String: Any])
        let fault = (rule["properties"] as? [String: Any])?["fault"] as? [String: Any]
        let kind = (fault?["properties"] as? [String: Any])?["kind"] as? [String: Any]
        #expect(Set(kind?["enum"] as? [String] ?? []) == Set(FaultRegistry.names(for: transport)))
    }
}

/// The example in faultline-profile(5) is a valid profile.
struct ManPageExampleTests {
    @Test func exampleValidates() throws {
        let url = ShippedProfilesTests.repository.appendingPathComponent("man/faultline-profile.5")
        let page = try String(contentsOf: url, encoding: .utf8)
        let example = try #require(page.components(separatedBy: ".SH EXAMPLE\n.nf\n").last?.components(separatedBy: "\n.fi").first)
        let text = example.replacingOccurrences(of: "\\-", with: "-")
        let profile = try ProfileLoader().load(text: text, file: "faultline-profile.5")
        #expect(profile.name == "checkout-chaos")
        #expect(profile.rules.count == 6)
    }

    @Test func udpExampleValidates() throws {
        let url = ShippedProfilesTests.repository.appendingPathComponent("man/faultline-profile.5")
        let page = try String(contentsOf: url, encoding: .utf8)
        let section = try #require(page.components(separatedBy: ".SH UDP PROFILES\n").last)
        let example = try #require(section.components(separatedBy: "Example:\n.PP\n.nf\n").dropFirst().first?.components(separatedBy: "\n.fi").first)
        let text = example.replacingOccurrences(of: "\\-", with: "-")
        let profile = try ProfileLoader().load(text: text, file: "faultline-profile.5")
        #expect(profile.transport == .udp)
        #expect(try profile.forDatagrams().rules.map(\.name) == ["lose-replies", "late"])
    }
}
