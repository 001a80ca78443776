#if canImport(Glibc)
import Glibc
#endif
import FaultlineTestSupport
import Foundation
import Testing

/// What a child started by `Spawn` gets from the test process: the traps a spawner for
/// a test runner full of sockets, pipes and dispatch threads has to avoid.
struct ChildProcessTests {
    static let shell = URL(fileURLWithPath: "/bin/sh")

    /// No descriptor of the test process leaks in (it holds sockets and other children's
    /// pipes; a leaked write end keeps a reader from its EOF), and standard input is
    /// /dev/null. `ls` itself holds 3, the directory it lists.
    @Test func aChildHoldsOnlyItsStandardDescriptors() async throws {
        let held = try await TestServer.echo()
        let result = try await ChildProcess.run(Self.shell, ["-c", "ls /proc/self/fd; readlink /proc/self/fd/0"])
        await held.stop()
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.last == "/dev/null")
        let descriptors = Set(lines.dropLast())
        #expect(descriptors.isSubset(of: ["0", "1", "2", "3"]), "the child inherited \(descriptors.sorted())")
    }

    /// Started from a thread that blocks every signal (as dispatch's workers do), the
    /// child still blocks and ignores none of the standard ones: a SIGTERM reaches it.
    @Test func aChildStartsWithNoSignalBlockedOrIgnored() async throws {
        let child = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var every = sigset_t()
                sigfillset(&every)
                pthread_sigmask(SIG_BLOCK, &every, nil)
                continuation.resume(with: Result {
                    try ChildProcess(Self.shell, ["-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status"])
                })
            }
        }
        var lines: [String] = []
        while let line = await child.nextLine() { lines.append(line) }
        #expect(await child.exitStatus() == 0)
        // Bit N-1 is signal N. glibc's spawn itself leaves its internal signals 32 and 33
        // ignored; the program's own glibc takes them over at start.
        let masks = lines.compactMap { line in line.split(separator: "\t").last.flatMap { UInt64($0, radix: 16) } }
        #expect(masks.count == 2 && masks.allSatisfy { $0 & 0x7FFF_FFFF == 0 }, "\(lines)")
    }

    /// A signal ends the child with that signal's number as its status (as Foundation's
    /// `terminationStatus` had it); once it has been awaited, `signal` sends nothing
    /// (the pid may belong to someone else by then).
    @Test func aSignalledChildReportsTheSignal() async throws {
        let child = try ChildProcess(Self.shell, ["-c", "echo ready; exec sleep 600"])
        #expect(await child.nextLine() == "ready")
        child.signal(SIGTERM)
        #expect(await child.exitStatus() == SIGTERM)
        #expect(child.waitForExit() == SIGTERM)
        child.signal(SIGKILL)
    }

    /// `environment` adds to the test process's own; stdout and stderr are kept apart.
    @Test func environmentAddsToTheTestProcesss() async throws {
        let result = try await ChildProcess.run(
            Self.shell, ["-c", "echo \"$FAULTLINE_CHILD_TEST\"; echo \"$PATH\" >&2; exit 3"],
            environment: ["FAULTLINE_CHILD_TEST": "added"]
        )
        #expect(result.status == 3)
        #expect(result.stdout == "added")
        #expect(result.stderr.trimmingCharacters(in: .newlines) == ProcessInfo.processInfo.environment["PATH"])
    }

    /// A command that cannot be started is an error thrown at once, not a status.
    @Test func aMissingExecutableThrows() {
        #expect(throws: SocketError.self) {
            try ChildProcess(URL(fileURLWithPath: "/no/such/executable"), [])
        }
    }
}
