import NIOCore
import Synchronization

/// The proxy's open connections, so shutdown can wait for them to finish and then close
/// the stragglers.
///
/// A connection is its client channel plus, once dialled, its upstream channel; it counts
/// as open until `finish` says its close was recorded, so a drained proxy has logged
/// every `conn_close`.
final class ConnectionRegistry: Sendable {
    private struct Entry {
        var client: any Channel
        var upstream: (any Channel)?
        /// The connection's handlers, which a plan change reaches on the client's loop;
        /// nil for copies of duplicated requests.
        var pipeline: LoopBoundPipeline?
        /// The proxy records this connection's close and then calls `finish`.
        var recordsClose = false
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var whenEmpty: [EventLoopPromise<Void>] = []

        /// Changes an entry through a read and a write, not the dictionary's `_modify`
        /// accessor (`entries[key]?.field = x`), whose coroutine frames cost three
        /// allocations a call (heaptrack): twice for every connection.
        mutating func update(_ key: UInt64, _ change: (inout Entry) -> Void) {
            guard var entry = self.entries[key] else { return }
            change(&entry)
            self.entries[key] = entry
        }
    }

    private let state = Mutex(State())
    /// Keys for connections the proxy opens on its own (copies of duplicated requests),
    /// apart from client connection ordinals.
    private let nextCopy = Atomic<UInt64>(1 << 63)

    var count: Int {
        self.state.withLock { $0.entries.count }
    }

    /// Tracks a new client connection. If it closes before the proxy took its close on
    /// (`recordsClose`: it was let in and its upstream dialled), it is finished there
    /// and then.
    func open(_ ordinal: UInt64, client: any Channel, pipeline: ConnectionPipeline? = nil) {
        let bound = pipeline.map { LoopBoundPipeline($0, on: client.eventLoop) }
        self.state.withLock { $0.entries[ordinal] = Entry(client: client, pipeline: bound) }
        client.closeFuture.whenComplete { _ in
            let unattached = self.state.withLock { $0.entries[ordinal].map { $0.upstream == nil && !$0.recordsClose } ?? false }
            if unattached { self.finish(ordinal) }
        }
    }

    /// The connection was let in and its upstream is being dialled: it stays open until
    /// `finish`, which follows its `conn_close`.
    func recordsClose(_ ordinal: UInt64) {
        self.state.withLock { $0.update(ordinal) { $0.recordsClose = true } }
    }

    /// Records the upstream channel; the connection now stays open until `finish`.
    func attach(_ ordinal: UInt64, upstream: any Channel) {
        self.state.withLock { $0.update(ordinal) { $0.upstream = upstream } }
    }

    /// Runs `body` on each open connection's loop with its pipeline; the futures say
    /// when each has run.
    func forEachPipeline(_ body: @escaping @Sendable (ConnectionPipeline) -> Void) -> [EventLoopFuture<Void>] {
        self.state.withLock { state in
            state.entries.values.compactMap { entry in
                guard let pipeline = entry.pipeline else { return nil }
                return entry.client.eventLoop.submit { body(pipeline.value(on: entry.client.eventLoop)) }
            }
        }
    }

    /// Tracks a connection the proxy opened itself (the copy of a duplicated request),
    /// so shutdown waits for its reply to be recorded; returns the key to `finish`.
    func openCopy(_ channel: any Channel) -> UInt64 {
        let key = self.nextCopy.wrappingAdd(1, ordering: .relaxed).oldValue
        self.state.withLock { $0.entries[key] = Entry(client: channel) }
        return key
    }

    /// The connection is over and its close recorded.
    func finish(_ ordinal: UInt64) {
        let waiters = self.state.withLock { state -> [EventLoopPromise<Void>] in
            state.entries[ordinal] = nil
            guard state.entries.isEmpty else { return [] }
            defer { state.whenEmpty = [] }
            return state.whenEmpty
        }
        waiters.forEach { $0.succeed() }
    }

    /// Completes `promise` as soon as no connection is open (at once if none is).
    func notifyWhenEmpty(_ promise: EventLoopPromise<Void>) {
        let isEmpty = self.state.withLock { state -> Bool in
            if state.entries.isEmpty { return true }
            state.whenEmpty.append(promise)
            return false
        }
        if isEmpty { promise.succeed() }
    }

    /// Closes both channels of every open connection at once, discarding what its
    /// pacing stages still hold (counted as dropped), and ends the copies of duplicated
    /// requests it still has (its close waits for them); completes when all are
    /// finished. Nothing a fault holds makes it wait: a 60 s delay on a reply in flight
    /// does not keep a deleted proxy, or the control API behind it, waiting 60 s.
    /// A connection whose two sides were both still open is marked as closed by the
    /// proxy first (on its loop, before either close is seen), so its `conn_close` does
    /// not blame whichever side saw the close first.
    func closeAll(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let entries = self.state.withLock { Array($0.entries.values) }
        for entry in entries {
            let channels = [entry.client] + (entry.upstream.map { [$0] } ?? [])
            guard let pipeline = entry.pipeline else {
                channels.forEach { $0.close(promise: nil) }
                continue
            }
            let loop = entry.client.eventLoop
            loop.execute {
                let connection = pipeline.value(on: loop)
                connection.markClosedAtShutdown()
                // What delay, bandwidth and slice rules still hold would otherwise go
                // out first and keep the close (and whoever awaits it) waiting for them.
                connection.discardHeld()
                channels.forEach { $0.close(promise: nil) }
                // Its copies end too: its close waits for them.
                connection.stopCopies(on: loop)
            }
        }
        let drained = eventLoop.makePromise(of: Void.self)
        self.notifyWhenEmpty(drained)
        return drained.futureResult
    }
}

/// A connection's pipeline, kept by the registry and handed back only on the
/// connection's own loop (`NIOLoopBound` without storing the loop a second time: the
/// entry's client channel knows it).
struct LoopBoundPipeline: @unchecked Sendable {
    private let pipeline: ConnectionPipeline

    init(_ pipeline: ConnectionPipeline, on loop: any EventLoop) {
        loop.preconditionInEventLoop()
        self.pipeline = pipeline
    }

    func value(on loop: any EventLoop) -> ConnectionPipeline {
        loop.preconditionInEventLoop()
        return self.pipeline
    }
}
