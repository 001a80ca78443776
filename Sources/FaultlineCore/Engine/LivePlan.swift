import Synchronization

/// A proxy's plan as it changes while the proxy runs: the one reference every
/// connection, session and admission check reads its rules through.
///
/// A plan change (the control API, a test) swaps in a new profile under the same seed
/// and proxy index and bumps the version. Connections hold a copy of the version they
/// armed with and compare it with `number` (one relaxed atomic load) before each
/// decision, re-arming only when it moved, so a fixed plan costs nothing per chunk.
///
/// Decision keys come from rule names and traffic positions only, so a rule kept across
/// a change draws exactly what it drew before, and the same seed, traffic and changes
/// at the same positions give the same faults.
public final class LivePlan: Sendable {
    /// One plan in force, numbered from 1 (the plan the proxy started with).
    public struct Version: Sendable {
        public let number: UInt64
        public let plan: FaultPlan
    }

    private let latest: Mutex<Version>
    private let latestNumber: Atomic<UInt64>

    public init(_ plan: FaultPlan) {
        self.latest = Mutex(Version(number: 1, plan: plan))
        self.latestNumber = Atomic(1)
    }

    /// The number of the plan in force: cheap enough to read for every chunk.
    public var number: UInt64 {
        self.latestNumber.load(ordering: .acquiring)
    }

    /// The plan in force and its number.
    public var current: Version {
        self.latest.withLock { $0 }
    }

    /// Puts `profile` in force (same seed, same proxy index) and returns the new version.
    @discardableResult
    public func replace(with profile: Profile) -> Version {
        self.latest.withLock { version in
            let plan = FaultPlan(profile: profile, seed: version.plan.seed, proxy: version.plan.proxy)
            version = Version(number: version.number + 1, plan: plan)
            self.latestNumber.store(version.number, ordering: .releasing)
            return version
        }
    }
}

extension LivePlan.Version {
    /// The `plan_change` event that records this plan coming into force.
    public func changeEvent(proxy: String, mono: UInt64) -> Event {
        var event = Event(.planChange)
        event.proxy = proxy
        event.plan = self.number
        event.seed = self.plan.seed
        event.profile = self.plan.profile.name
        event.profileHash = self.plan.profile.hash.isEmpty ? nil : self.plan.profile.hash
        event.mono = mono
        return event
    }
}
