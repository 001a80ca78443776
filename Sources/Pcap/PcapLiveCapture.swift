import CPcap
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A live capture on one interface through libpcap, written to a pcap file.
///
/// `init` opens and activates the interface and installs the BPF filter, so every
/// failure a user can cause (no privilege, no such interface, a bad filter) is thrown
/// before anything runs. `run` blocks: call it on a thread of its own. `stop()` may be
/// called from any thread; `run` notices within `pollInterval`.
package final class PcapLiveCapture: @unchecked Sendable {
    /// Counts so far, for progress lines.
    package struct Progress: Sendable, Equatable {
        package var packets: Int
        package var bytes: Int
        /// Packets the kernel dropped because the capture fell behind (`pcap_stats`).
        package var droppedByKernel: Int
    }

    package let interface: String
    package let filter: String?
    // `@unchecked`: `handle` and `dumper` are set up by `init` and `open(file:)`, then
    // used by the `run` thread only; `stop` and `progress` touch only the atomic flag and
    // the mutex.
    private var handle: OpaquePointer?
    private var dumper: OpaquePointer?
    private let stopping = Atomic<Bool>(false)
    private let counts = Mutex(Progress(packets: 0, bytes: 0, droppedByKernel: 0))

    /// Checks that `filter` compiles, without needing any privilege (it is compiled for
    /// Ethernet; the live handle compiles it again for the real link type).
    ///
    /// - Throws: `PcapError(.badFilter)` with libpcap's message.
    package static func validate(filter: String) throws {
        guard let dead = pcap_open_dead(Int32(DLT_EN10MB), 262_144) else { return }
        defer { pcap_close(dead) }
        var program = bpf_program()
        if pcap_compile(dead, &program, filter, 1, PCAP_NETMASK_UNKNOWN) != 0 {
            throw PcapError(.badFilter, "bad capture filter '\(filter)': \(String(cString: pcap_geterr(dead)))")
        }
        pcap_freecode(&program)
    }

    /// Opens `interface` for capture.
    ///
    /// - Throws: `PcapError` of kind `.permissionDenied` (naming root / CAP_NET_RAW),
    ///   `.noSuchDevice`, `.badFilter` or `.other`.
    package init(interface: String, filter: String?, snapLength: Int32 = 262_144) throws {
        if let filter { try Self.validate(filter: filter) }
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_create(interface, &errorBuffer) else {
            throw PcapError(.noSuchDevice, "cannot capture on '\(interface)': \(PcapError.text(errorBuffer))")
        }
        pcap_set_snaplen(handle, snapLength)
        pcap_set_promisc(handle, 0)
        pcap_set_timeout(handle, 100)
        pcap_set_immediate_mode(handle, 1)
        let status = pcap_activate(handle)
        if status < 0 {
            let detail = String(cString: pcap_geterr(handle))
            pcap_close(handle)
            switch status {
            case PCAP_ERROR_PERM_DENIED, PCAP_ERROR_PROMISC_PERM_DENIED:
                throw PcapError(
                    .permissionDenied,
                    "capturing on '\(interface)' needs root or the CAP_NET_RAW capability (this process has neither): \(detail)"
                )
            case PCAP_ERROR_NO_SUCH_DEVICE:
                throw PcapError(.noSuchDevice, "no interface named '\(interface)'\(Self.interfaceList())")
            default:
                let text = detail.isEmpty ? String(cString: pcap_statustostr(status)) : detail
                throw PcapError(.other, "cannot capture on '\(interface)': \(text)")
            }
        }
        self.interface = interface
        self.filter = filter
        self.handle = handle
        if let filter {
            var program = bpf_program()
            guard pcap_compile(handle, &program, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
                let message = String(cString: pcap_geterr(handle))
                throw PcapError(.badFilter, "bad capture filter '\(filter)': \(message)")
            }
            defer { pcap_freecode(&program) }
            guard pcap_setfilter(handle, &program) == 0 else {
                throw PcapError(.badFilter, "cannot install capture filter '\(filter)': \(String(cString: pcap_geterr(handle)))")
            }
        }
        if pcap_setnonblock(handle, 1, &errorBuffer) != 0 {
            throw PcapError(.other, "cannot capture on '\(interface)': \(PcapError.text(errorBuffer))")
        }
    }

    deinit {
        if let dumper = self.dumper { pcap_dump_close(dumper) }
        if let handle = self.handle { pcap_close(handle) }
    }

    /// Creates the pcap file `run` will write, so a bad path fails before capturing
    /// starts. `run` calls it if nobody did.
    ///
    /// - Throws: `PcapError(.file)` with libpcap's reason.
    package func open(file path: String) throws {
        guard self.dumper == nil, let handle = self.handle else { return }
        guard let dumper = pcap_dump_open(handle, path) else {
            throw PcapError.cannotWrite(path, String(cString: pcap_geterr(handle)))
        }
        self.dumper = dumper
    }

    /// The capture's link-layer type.
    package var linkType: LinkType {
        self.handle.map { LinkType(rawValue: pcap_datalink($0)) } ?? .raw
    }

    /// Captures into a new pcap file at `path` until `stop()`, or until `maxPackets`
    /// packets were written. Blocking; `progress` is called from this thread about every
    /// `pollInterval` while packets arrive, and once at the end.
    ///
    /// - Returns: the final counts.
    @discardableResult
    package func run(
        writingTo path: String,
        maxPackets: Int? = nil,
        pollInterval: Int32 = 100,
        progress: (Progress) -> Void = { _ in }
    ) throws -> Progress {
        guard let handle = self.handle else { throw PcapError(.other, "capture already finished") }
        try self.open(file: path)
        guard let dumper = self.dumper else { throw PcapError(.other, "capture file not open") }
        defer {
            pcap_dump_close(dumper)
            self.dumper = nil
        }
        let descriptor = pcap_get_selectable_fd(handle)
        var reported = Progress(packets: -1, bytes: 0, droppedByKernel: 0)
        while !self.stopping.load(ordering: .relaxed) {
            if let maxPackets, self.progress.packets >= maxPackets { break }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = descriptor >= 0 ? poll(&poller, 1, pollInterval) : 0
            if ready < 0, errno != EINTR {
                throw PcapError(.other, "capture on '\(self.interface)' failed: \(String(cString: strerror(errno)))")
            }
            while !self.stopping.load(ordering: .relaxed) {
                if let maxPackets, self.progress.packets >= maxPackets { break }
                var header: UnsafeMutablePointer<pcap_pkthdr>?
                var data: UnsafePointer<UInt8>?
                let result = pcap_next_ex(handle, &header, &data)
                if result == 0 { break }
                if result < 0 {
                    if result == PCAP_ERROR_BREAK { break }
                    throw PcapError(.other, "capture on '\(self.interface)' failed: \(String(cString: pcap_geterr(handle)))")
                }
                guard let header, let data else { break }
                pcap_dump(UnsafeMutablePointer<UInt8>(dumper), header, data)
                try Self.check(dumper, path: path, flushing: false)
                self.counts.withLock {
                    $0.packets += 1
                    $0.bytes += Int(header.pointee.len)
                }
            }
            var statistics = pcap_stat()
            if pcap_stats(handle, &statistics) == 0 {
                self.counts.withLock { $0.droppedByKernel = Int(statistics.ps_drop) }
            }
            try Self.check(dumper, path: path, flushing: true)
            let now = self.progress
            if now != reported {
                reported = now
                progress(now)
            }
        }
        let final = self.progress
        progress(final)
        return final
    }

    /// Throws when the capture file could not be written (a full disk): stdio drops what
    /// it cannot write and flags the stream, so the capture stops there, said, rather
    /// than go on and report success with a file cut short. A runtime failure (exit 3).
    private static func check(_ dumper: OpaquePointer, path: String, flushing: Bool) throws {
        let flushed = flushing ? pcap_dump_flush(dumper) : 0
        let number = errno
        guard flushed != 0 || (pcap_dump_file(dumper).map { ferror($0) != 0 } ?? false) else { return }
        throw PcapError(.other, "cannot write capture file \(path): \(String(cString: strerror(number == 0 ? EIO : number))); the file is cut short")
    }

    /// Counts so far; safe from any thread.
    package var progress: Progress {
        self.counts.withLock { $0 }
    }

    /// Asks `run` to finish; it flushes and closes the file and returns.
    package func stop() {
        self.stopping.store(true, ordering: .relaxed)
    }

    /// `; interfaces: lo, eth0` from `pcap_findalldevs`, or empty.
    private static func interfaceList() -> String {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        var list: UnsafeMutablePointer<pcap_if_t>?
        guard pcap_findalldevs(&list, &errorBuffer) == 0, let first = list else { return "" }
        defer { pcap_freealldevs(first) }
        var names: [String] = []
        var cursor: UnsafeMutablePointer<pcap_if_t>? = first
        while let device = cursor {
            names.append(String(cString: device.pointee.name))
            cursor = device.pointee.next
        }
        return names.isEmpty ? "" : "; interfaces here: \(names.joined(separator: ", "))"
    }
}
