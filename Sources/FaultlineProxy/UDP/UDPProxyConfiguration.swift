import FaultlineCore

/// What one UDP proxy listens on, forwards to, and breaks.
public struct UDPProxyConfiguration: Sendable {
    /// The proxy's name in logs and events (`proxy.name`).
    public var name: String
    public var listen: HostPort
    public var upstream: HostPort
    /// A session with no datagram either way for this long is closed (its upstream
    /// socket too); the client's next datagram opens a new one.
    public var idleTimeout: Duration
    /// The most sessions open at once. Datagrams from new clients beyond it are dropped
    /// (and said so once in the log) until a session closes.
    public var maxSessions: Int
    /// The `transport: udp` profile and seed to inject faults with; nil forwards every
    /// datagram untouched (and `UDPProxy.apply` can still bring rules later).
    public var faults: FaultPlan?
    /// Log every datagram as a `message` event (fingerprint, attempt, and for a reply
    /// the request it answers), as `--framing` does for TCP, so `check retries` can
    /// judge a UDP client. Costs a hash per datagram: on only when there is a log.
    public var recordDatagrams = false

    public static let defaultIdleTimeout: Duration = .seconds(60)
    public static let defaultMaxSessions = 10_000

    public init(
        name: String = "proxy",
        listen: HostPort,
        upstream: HostPort,
        idleTimeout: Duration = UDPProxyConfiguration.defaultIdleTimeout,
        maxSessions: Int = UDPProxyConfiguration.defaultMaxSessions,
        faults: FaultPlan? = nil
    ) {
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.idleTimeout = idleTimeout
        self.maxSessions = maxSessions
        self.faults = faults
    }

    /// The plan to start with, its rules decided per datagram.
    ///
    /// - Throws: `InvalidInputError` for limits that cannot work, `ProfileError` for a
    ///   profile the UDP engine cannot carry.
    func validated() throws -> FaultPlan {
        guard self.idleTimeout > .zero else {
            throw InvalidInputError("the UDP idle timeout must be above zero, got \(DurationText.format(self.idleTimeout))")
        }
        guard self.maxSessions >= 1 else {
            throw InvalidInputError("the UDP session cap must be at least 1, got \(self.maxSessions)")
        }
        guard let plan = self.faults else { return .passthrough() }
        return FaultPlan(profile: try plan.profile.forDatagrams(), seed: plan.seed, proxy: plan.proxy)
    }
}
