import FaultlineCore
import FaultlineHost

/// A running proxy as the control plane drives it: where it listens, its seed, how busy
/// it is, a plan that can be replaced while connections stay open, and a clean stop.
///
/// `HostedProxy` is the real one; tests may drive the store with a stand-in.
package protocol ControlledProxy: AnyObject, Sendable {
    /// The address it really listens on.
    var address: HostPort { get }
    /// The seed every fault decision derives from.
    var seed: UInt64 { get }
    /// Open TCP connections, or UDP sessions.
    var open: Int { get }
    /// Connections, messages and faults so far, when started with tallies.
    var tally: EventTally? { get }
    /// Bytes written to the upstream and to clients so far, open connections included.
    var bytesForwarded: (upstream: Int, downstream: Int) { get }
    /// Events the log could not keep up with so far (0 without a log).
    var droppedEvents: Int { get }
    /// The capture's file and counts so far; nil when it captures nothing.
    var captureCounts: CaptureCounts? { get }
    /// Replaces the running plan (nil: no faults) for new data on open connections at
    /// once, records a `plan_change` event, and returns the new plan version.
    ///
    /// - Throws: `InvalidInputError` or `ProfileError` when the profile cannot run here.
    func apply(_ profile: Profile?) async throws -> UInt64
    /// Starts capturing both legs of everything it carries, open connections included,
    /// into a new pcap file at `path`; nothing is restarted.
    func startCapture(_ path: String, buffer: Int?, maxFileSize: Int64?) async throws -> CaptureCounts
    /// Stops the capture in force and closes its file; nil when none was in force.
    func stopCapture() async throws -> CaptureCounts?
    /// Stops accepting, lets open connections finish for `grace`, closes the rest and
    /// flushes the records.
    func stop(grace: Duration) async throws
    /// Ends the grace of a `stop` under way at once (a second SIGINT or SIGTERM).
    func endGrace()
}

extension ControlledProxy {
    package func endGrace() {}
}

/// Starts a proxy from a spec: `ProxyHost.start` in the server, a stand-in in tests.
package typealias ProxyLauncher = @Sendable (ProxySpec) async throws -> any ControlledProxy
