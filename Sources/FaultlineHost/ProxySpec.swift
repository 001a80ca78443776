import FaultlineCore
import FaultlineFraming
import FaultlineProxy

/// Everything needed to run one proxy with its records: what `faultline proxy`'s flags
/// say, what one entry of a run file says, what a control-API request says.
///
/// A spec is portable data; `ProxyHost.start` turns it into a running proxy.
package struct ProxySpec: Sendable {
    package enum Transport: String, Sendable, CaseIterable {
        case tcp
        case udp
    }

    /// The proxy's name in logs and events.
    package var name: String
    package var transport: Transport
    package var listen: HostPort
    package var upstream: HostPort
    /// The faults to inject; nil forwards everything unchanged.
    package var profile: Profile?
    /// The seed of every fault decision; nil takes the profile's, else a random one
    /// (always announced and logged).
    package var seed: UInt64?
    /// How TCP connections are cut into messages. Resolve it with the profile's own
    /// `framing:` first (`FramingOptions`, the run file): the host takes it as given.
    package var framing: FramingConfiguration
    /// TCP: how long dialling the upstream may take.
    package var connectTimeout: Duration
    /// UDP: a session with no datagram either way for this long is closed.
    package var udpIdleTimeout: Duration
    /// UDP: the most sessions open at once.
    package var udpMaxSessions: Int
    /// Which proxy of a run, part of every decision key (0 for a lone proxy).
    package var index: UInt32
    /// Where its event log and capture go.
    package var records: ProxyRecords.Paths
    /// Count connections, messages and faults as they happen (`HostedProxy.tally`), for
    /// `run`'s progress line and summary. Off by default: it costs atomics per event.
    package var tallies = false

    package init(
        name: String = "proxy",
        transport: Transport = .tcp,
        listen: HostPort,
        upstream: HostPort,
        profile: Profile? = nil,
        seed: UInt64? = nil,
        framing: FramingConfiguration = .raw,
        connectTimeout: Duration = .seconds(5),
        udpIdleTimeout: Duration = UDPProxyConfiguration.defaultIdleTimeout,
        udpMaxSessions: Int = UDPProxyConfiguration.defaultMaxSessions,
        index: UInt32 = 0,
        records: ProxyRecords.Paths = ProxyRecords.Paths()
    ) {
        self.name = name
        self.transport = transport
        self.listen = listen
        self.upstream = upstream
        self.profile = profile
        self.seed = seed
        self.framing = framing
        self.connectTimeout = connectTimeout
        self.udpIdleTimeout = udpIdleTimeout
        self.udpMaxSessions = udpMaxSessions
        self.index = index
        self.records = records
    }

    /// The seed this spec runs with: its own, else the profile's, else a random one.
    func resolvedSeed() -> UInt64 {
        self.seed ?? self.profile?.seed ?? UInt64.random(in: 0...UInt64(Int64.max))
    }
}
