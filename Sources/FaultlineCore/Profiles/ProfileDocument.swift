import Yams

/// One profile file as written, before `extends` is followed: what `ProfileParser`
/// reads and `ProfileLoader` merges.
public struct ProfileDocument {
    public struct Reference {
        public var name: String
        public var location: ProfileLocation
    }

    public var name: String?
    public var description: String?
    public var seed: UInt64?
    public var framing: Profile.Framing?
    public var transport: ProfileTransport = .tcp
    public var extends: [Reference] = []
    public var rules: [Rule] = []
    public var schedule: Schedule?
    /// Where the schedule is, for problems found only after merging.
    public var scheduleLocation: ProfileLocation?
    /// Where each phase's rule names are written, by phase index and position.
    public var phaseRuleLocations: [[ProfileLocation]] = []
    public var file: String
    public var text: String

    init(file: String, text: String) {
        self.file = file
        self.text = text
    }
}
