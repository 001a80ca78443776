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
    /// The fault rules, in profile order; empty forwards every datagram untouched.
    public var rules: [DatagramFaultRule]
    /// The profile's phases (which rules act when, since the proxy started); nil: every
    /// rule all the time.
    public var schedule: Schedule?
    /// The run's seed: with the same traffic, the same seed gives the same faults.
    public var seed: UInt64
    /// Which proxy of a run (0 for a lone `faultline proxy`), part of every decision key.
    public var proxyIndex: UInt32
    /// The profile the rules came from (name and hash), for `proxy_start`.
    public var profile: (name: String, hash: String)?
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
        rules: [DatagramFaultRule] = [],
        schedule: Schedule? = nil,
        seed: UInt64 = 0,
        proxyIndex: UInt32 = 0,
        profile: (name: String, hash: String)? = nil
    ) {
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.idleTimeout = idleTimeout
        self.maxSessions = maxSessions
        self.rules = rules
        self.schedule = schedule
        self.seed = seed
        self.proxyIndex = proxyIndex
        self.profile = profile
    }

    /// Rejects limits that cannot work and rules with bad parameters.
    func validated() throws(InvalidInputError) -> DatagramFaultPlan {
        guard self.idleTimeout > .zero else {
            throw InvalidInputError("the UDP idle timeout must be above zero, got \(DurationText.format(self.idleTimeout))")
        }
        guard self.maxSessions >= 1 else {
            throw InvalidInputError("the UDP session cap must be at least 1, got \(self.maxSessions)")
        }
        return try DatagramFaultPlan(rules: self.rules, seed: self.seed, proxy: self.proxyIndex, schedule: self.schedule)
    }
}
