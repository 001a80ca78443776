import FaultlineCore
import Testing

/// The bounds on a profile's YAML shape: hostile shapes refused with a line and column
/// before composing, ordinary use of anchors and nesting untouched.
struct ProfileShapeTests {
    static func load(_ text: String) -> Result<Profile, any Error> {
        Result { try ProfileLoader(library: []).load(text: text, file: "shape.yaml") }
    }

    @Test func anchorsAndAliasesInOrdinaryUseStillLoad() throws {
        let profile = try Self.load("""
            faultline: 1
            name: shared
            description: Two rules share one match through an anchor.
            rules:
              - name: slow
                match: &posts {direction: upstream, connections: {first: 2}}
                fault: {kind: delay, latency: 5ms}
              - name: cut
                match: *posts
                fault: {kind: sever}
            """).get()
        #expect(profile.rules.map(\.name) == ["slow", "cut"])
    }

    /// Nesting up to the bound loads as far as shape goes (the content is still checked).
    @Test func sixtyFourLevelsAreWithinTheBound() {
        let text = "faultline: 1\nname: deep\ndescription: Deep.\nx: " + String(repeating: "[", count: 63) + String(repeating: "]", count: 63) + "\n"
        let error = "\(Self.load(text))"
        #expect(!error.contains("nested more than"), "\(error)")
    }

    /// The root mapping is the first level: the 64th list opened is the 65th.
    @Test func sixtyFiveLevelsAreRefusedWhereTheyStart() {
        let text = "faultline: 1\nx: " + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "\n"
        let error = "\(Self.load(text))"
        #expect(error.contains("shape.yaml:2:67: collections nested more than 64 deep"), "\(error)")
    }

    /// Each alias counts its anchor's whole size: 5 levels of 10 is 111,110 values.
    @Test func aliasesCountAtTheirAnchorsSize() {
        var text = "faultline: 1\na0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
        for level in 1...4 {
            text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let error = "\(Self.load(text))"
        #expect(error.contains("shape.yaml:6:") && error.contains("expand to more than 100000 values"), "\(error)")
    }

    @Test func aliasesJustUnderTheBoundAreOnlyCheckedAsAProfile() {
        var text = "faultline: 1\na0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
        for level in 1...3 {
            text += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let error = "\(Self.load(text))"
        #expect(!error.contains("expand to more than"), "\(error)")
        #expect(error.contains("a0"), "the unknown keys are reported as usual: \(error)")
    }
}
