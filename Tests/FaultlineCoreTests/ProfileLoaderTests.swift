import FaultlineCore
import Foundation
import Testing

/// `extends`, names, search paths and cycles.
struct ProfileLoaderTests {
    /// A fresh folder holding `files`.
    static func folder(_ files: [String: String]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (name, text) in files {
            let file = (path as NSString).appendingPathComponent(name)
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: file, atomically: true, encoding: .utf8)
        }
        return path
    }

    static func profile(_ name: String, extends: String? = nil, rules: String = "rules: []\n", extra: String = "") -> String {
        "faultline: 1\nname: \(name)\ndescription: \(name) for tests\n" + (extends.map { "extends: \($0)\n" } ?? "") + extra + rules
    }

    @Test func extendsMergesRulesByName() throws {
        let dir = try Self.folder([
            "base.yaml": Self.profile("base", rules: """
                seed: 7
                rules:
                  - {name: slow, fault: {kind: delay, latency: 1s}}
                  - {name: cut, fault: {kind: sever}}
                """),
            "sub/child.yaml": Self.profile("child", extends: "../base.yaml", rules: """
                rules:
                  - {name: slow, fault: {kind: delay, latency: 5ms}}
                  - {name: drip, fault: {kind: slice, size: 1}}
                """),
        ])
        let profile = try ProfileLoader(library: []).load("\(dir)/sub/child.yaml")
        #expect(profile.name == "child")
        #expect(profile.seed == 7)
        #expect(profile.rules.map(\.name) == ["slow", "cut", "drip"])
        #expect((profile.rules[0].fault as? DelayFault)?.latency == .milliseconds(5))
        #expect(profile.extends == ["../base.yaml"])
    }

    @Test func extendsByLibraryName() throws {
        let dir = try Self.folder(["mine.yaml": Self.profile("mine", extends: "slow-reply")])
        let profile = try ProfileLoader().load("\(dir)/mine.yaml")
        #expect(profile.rules.map(\.name) == ["slow-replies"])
    }

    @Test func searchPathIsLookedUpByNameBeforeTheLibrary() throws {
        let dir = try Self.folder(["slow-reply.yaml": Self.profile("slow-reply", rules: "rules: [{name: mine, fault: {kind: blackhole}}]\n")])
        let loader = ProfileLoader.fromEnvironment(["FAULTLINE_PROFILE_PATH": "/nonexistent:\(dir)"])
        #expect(try loader.load("slow-reply").rules.map(\.name) == ["mine"])
        #expect(loader.catalog().first { $0.name == "slow-reply" }?.origin.hasPrefix(dir) == true)
    }

    /// A FIFO (or any other non-regular file) in a search folder is passed over: opening
    /// it waited for a writer for ever, and `profile list` hung.
    @Test func aFIFOInASearchFolderIsPassedOver() throws {
        let dir = try Self.folder(["mine.yaml": Self.profile("mine")])
        #expect(mkfifo("\(dir)/stuck.yaml", 0o644) == 0)
        let loader = ProfileLoader.fromEnvironment(["FAULTLINE_PROFILE_PATH": dir])
        let names = loader.catalog().map(\.name)
        #expect(names.contains("mine") && !names.contains("stuck"))
        #expect(throws: ProfileError.self) { try loader.load("stuck") }
    }

    @Test func extendsCycleIsReportedWhereItCloses() throws {
        let dir = try Self.folder([
            "a.yaml": Self.profile("a", extends: "b.yaml"),
            "b.yaml": Self.profile("b", extends: "./a.yaml"),
        ])
        let error = try #require(throws: ProfileError.self) { try ProfileLoader(library: []).load("\(dir)/a.yaml") }
        #expect(error.issues.count == 1)
        let issue = try #require(error.issues.first)
        #expect(issue.location.file.hasSuffix("b.yaml"))
        #expect(issue.location.line == 4)
        #expect(issue.location.column == 10)
        #expect(issue.message.contains("extends cycle: "), "\(error)")
        #expect(issue.message.hasSuffix("a.yaml"), "\(error)")
    }

    @Test func selfExtensionIsACycle() throws {
        let dir = try Self.folder(["me.yaml": Self.profile("me", extends: "me.yaml")])
        let error = try #require(throws: ProfileError.self) { try ProfileLoader(library: []).load("\(dir)/me.yaml") }
        #expect(error.description.contains("extends cycle"))
    }

    @Test func problemsInAParentAreReportedInTheParentFile() throws {
        let dir = try Self.folder([
            "parent.yaml": Self.profile("parent", rules: "rules: [{name: x, probability: 3, fault: {kind: blackhole}}]\n"),
            "child.yaml": Self.profile("child", extends: "parent.yaml"),
        ])
        let error = try #require(throws: ProfileError.self) { try ProfileLoader(library: []).load("\(dir)/child.yaml") }
        #expect(error.issues.count == 1)
        #expect(error.issues[0].location.file.hasSuffix("parent.yaml"))
        #expect(error.issues[0].location.line == 4)
    }

    @Test func unknownNameSuggestsTheClosest() throws {
        let error = try #require(throws: ProfileError.self) { try ProfileLoader().load("slow-replly") }
        #expect(error.description.contains("no profile named 'slow-replly' (did you mean 'slow-reply'?)"), "\(error)")
    }

    @Test func missingFileIsAnError() throws {
        let error = try #require(throws: ProfileError.self) { try ProfileLoader().load("/nonexistent/x.yaml") }
        #expect(error.description.contains("no profile file at '/nonexistent/x.yaml'"))
        #expect(error.exitStatus == 2)
    }

    @Test func aDirectoryIsNotAProfileFile() throws {
        let dir = try Self.folder(["mine.yaml": Self.profile("mine")])
        try FileManager.default.createDirectory(atPath: "\(dir)/folder.yaml", withIntermediateDirectories: false)
        let error = try #require(throws: ProfileError.self) { try ProfileLoader().load("\(dir)/folder.yaml") }
        #expect(error.description.contains("'\(dir)/folder.yaml' is a directory, not a profile file"), "\(error)")
        #expect(error.exitStatus == 2)
    }

    @Test func hashChangesWithTheText() throws {
        let one = try ProfileLoader(library: []).load(text: Self.profile("h"), file: "h.yaml")
        let two = try ProfileLoader(library: []).load(text: Self.profile("h") + "# changed\n", file: "h.yaml")
        #expect(one.hash.count == 16)
        #expect(one.hash != two.hash)
    }
}
