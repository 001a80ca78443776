import FaultlineCore
import FaultlineFraming
import FaultlineHost

/// How the server runs the proxies it hosts.
package struct ServeOptions: Sendable {
    /// Each proxy's event log goes to `DIR/NAME.jsonl` (a proxy started again writes
    /// `NAME.2.jsonl`, and so on); nil keeps no logs.
    package var logDirectory: String?
    /// Each proxy's capture goes to `DIR/NAME.pcap` (then `NAME.2.pcap`...), and every
    /// proxy captures from its start unless created with `"pcap": false`; nil: proxies
    /// capture only when asked (`"pcap": true`, or `POST /v1/proxies/{p}/pcap`), into a
    /// directory of the server's own under the temporary directory.
    package var pcapDirectory: String?
    /// Bytes of captured payload that may wait for a capture's writer before packets
    /// are dropped (and counted); nil: `PacketCapture`'s default.
    package var pcapBuffer: Int?
    /// The seed of proxies that do not name their own; nil picks one per proxy.
    package var seed: UInt64?
    /// Where a proxy created without `listen` listens: port 0 of loopback.
    package var defaultListen = "127.0.0.1:0"
    /// How long open connections of a proxy that is deleted or disabled may finish.
    package var stopGrace: Duration = .zero
    /// How long open connections may finish when the server itself stops.
    package var shutdownGrace: Duration = .seconds(5)
    package var connectTimeout: Duration = .seconds(5)

    package init(logDirectory: String? = nil, pcapDirectory: String? = nil, seed: UInt64? = nil) {
        self.logDirectory = logDirectory
        self.pcapDirectory = pcapDirectory
        self.seed = seed
    }
}

/// What a request to create a proxy says, from either API.
package struct ProxyRequest: Sendable {
    package var name: String
    package var listen: String?
    package var upstream: String
    package var enabled: Bool
    package var transport: ProxySpec.Transport
    /// Nil: the profile's `framing:`, else raw.
    package var framing: FramingConfiguration?
    /// Each framed message's bytes go into the log (what replay needs); refused without
    /// framing.
    package var recordPayloads = false
    package var seed: UInt64?
    package var profile: Profile?
    /// Capture both legs to a pcap file from the start; nil: when the server has `--pcap DIR`.
    package var pcap: Bool?

    package init(
        name: String,
        listen: String? = nil,
        upstream: String,
        enabled: Bool = true,
        transport: ProxySpec.Transport = .tcp,
        framing: FramingConfiguration? = nil,
        seed: UInt64? = nil,
        profile: Profile? = nil,
        pcap: Bool? = nil
    ) {
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = enabled
        self.transport = transport
        self.framing = framing
        self.seed = seed
        self.profile = profile
        self.pcap = pcap
    }
}
