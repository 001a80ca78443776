import ArgumentParser
import FaultlineCore
import FaultlineHost
import Foundation
import Pcap

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `faultline capture`: a live libpcap capture to a pcap file.
struct Capture: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Capture packets on an interface to a pcap file (needs root or CAP_NET_RAW).",
        discussion: """
            Captures on --interface through libpcap, keeping only packets that match the \
            BPF --filter (tcpdump's syntax), and writes them to -w FILE. Shows packets and \
            bytes captured so far on standard error. Prints 'capturing on IF' on standard \
            output once packets are being kept, and 'captured N packets (B bytes) to \
            FILE' at the end. Stops after --duration, after --count packets, or on \
            SIGINT/SIGTERM/SIGHUP; the file is complete in every case but one: when it \
            cannot be written (a full disk), the capture stops there and says so.

            Exit status: 2 for a filter that does not compile (libpcap's message is \
            shown) or an unknown interface; 3 when the system refuses to capture (run as \
            root, or grant CAP_NET_RAW), or when the file could not be written in full \
            (the message names it and the reason).
            """
    )

    @Option(name: [.customShort("i"), .long], help: ArgumentHelp("Interface to capture on, for example lo or eth0.", valueName: "if"))
    var interface: String

    @Option(help: ArgumentHelp("BPF filter, for example \"tcp port 7000\".", valueName: "bpf"))
    var filter: String?

    @Option(name: [.customShort("w"), .customLong("write")], help: ArgumentHelp("The pcap file to write.", valueName: "file"))
    var file: String

    @Option(help: ArgumentHelp("Stop after this long, for example 10s.", valueName: "duration"))
    var duration: DurationArgument?

    @Option(help: ArgumentHelp("Stop after this many packets.", valueName: "n"))
    var count: Int?

    func validate() throws {
        if let count = self.count, count <= 0 {
            throw ValidationError("--count must be a positive number of packets")
        }
    }

    func run() async throws {
        let capture: PcapLiveCapture
        do {
            capture = try PcapLiveCapture(interface: self.interface, filter: self.filter)
            try capture.open(file: self.file)
        } catch let error as PcapError {
            throw error.userFacing
        }
        let signals = TerminationSignals()
        // On standard output, like the proxy's "listening on": scripts wait for it.
        Output.line("capturing on \(self.interface)\(self.filter.map { " (filter: \($0))" } ?? "") to \(self.file)")
        let duration = self.duration?.duration
        let stopper = Task {
            if let duration {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { _ = await signals.next() }
                    group.addTask { try? await Task.sleep(for: duration) }
                    await group.next()
                    group.cancelAll()
                }
            } else {
                _ = await signals.next()
            }
            capture.stop()
        }
        let path = self.file
        let limit = self.count
        let result: Result<PcapLiveCapture.Progress, PcapError> = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let reporter = ProgressLine()
                do {
                    let final = try capture.run(writingTo: path, maxPackets: limit) { reporter.show($0) }
                    reporter.finish()
                    continuation.resume(returning: .success(final))
                } catch let error as PcapError {
                    reporter.finish()
                    continuation.resume(returning: .failure(error))
                } catch {
                    continuation.resume(returning: .failure(PcapError(.other, "\(error)")))
                }
            }
        }
        stopper.cancel()
        switch result {
        case .success(let final):
            let dropped = final.droppedByKernel > 0 ? ", \(final.droppedByKernel) dropped by the kernel" : ""
            Output.line("captured \(final.packets) packets (\(final.bytes) bytes) to \(path)\(dropped)")
        case .failure(let error):
            throw error.userFacing
        }
    }
}

/// The "captured N packets (B bytes)" line on standard error: rewritten in place on a
/// terminal, otherwise printed at most once a second.
private final class ProgressLine {
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastPrinted: UInt64 = 0
    private var lastText: String?
    private var pending: String?

    func show(_ progress: PcapLiveCapture.Progress) {
        let text = "captured \(progress.packets) packets (\(progress.bytes) bytes)"
        if self.isTerminal {
            try? FileHandle.standardError.write(contentsOf: Data(("\r" + text).utf8))
            return
        }
        guard text != self.lastText else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        if now - self.lastPrinted >= 1_000_000_000 {
            self.lastText = text
            self.lastPrinted = now
            self.pending = nil
            printError(text)
        } else {
            self.pending = text
        }
    }

    func finish() {
        if self.isTerminal {
            try? FileHandle.standardError.write(contentsOf: Data("\n".utf8))
        } else if let pending = self.pending, pending != self.lastText {
            printError(pending)
        }
    }
}
