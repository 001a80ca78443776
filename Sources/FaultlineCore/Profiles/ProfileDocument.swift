import Yams

/// One profile file as written, before `extends` is followed: what `ProfileParser`
/// reads and `ProfileLoader` merges.
package struct ProfileDocument {
    package struct Reference {
        package var name: String
        package var location: ProfileLocation
    }

    package var name: String?
    package var description: String?
    package var seed: UInt64?
    package var framing: Profile.Framing?
    package var transport: ProfileTransport = .tcp
    package var extends: [Reference] = []
    package var rules: [Rule] = []
    package var schedule: Schedule?
    /// Where the schedule is, for problems found only after merging.
    package var scheduleLocation: ProfileLocation?
    /// Where each phase's rule names are written, by phase index and position.
    package var phaseRuleLocations: [[ProfileLocation]] = []
    package var file: String
    package var text: String

    init(file: String, text: String) {
        self.file = file
        self.text = text
    }
}
