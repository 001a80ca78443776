#if canImport(Glibc)
import Glibc
#endif
import FaultlineCore
import Foundation

/// Starts the tests' child processes with `posix_spawn`, never Foundation's `Process`.
///
/// `Process.run` on Linux lists `/proc/self/fd` to close the parent's descriptors, and
/// over-reads each `dirent` while doing so (swift-corelibs-foundation#5472, not in Swift
/// 6.3): a loaded run crashed in it now and then. Here the child gets what a shell would
/// give it:
/// - standard input, output and error as asked (`/dev/null` when not given), and no other
///   descriptor: the test process holds hundreds of sockets and other children's pipes,
///   and a leaked copy keeps a peer from its EOF (closed in the child with glibc's
///   `closefrom` action, all at once, after the `dup2`s);
/// - nothing blocked and every signal at its default: the spawning thread is often a
///   dispatch worker with every signal blocked, and blocked or ignored signals would
///   carry over (a child that cannot be stopped with SIGTERM);
/// - a process group of its own, as `Process` gave it, so a ^C in the terminal reaches
///   only the test runner.
package enum Spawn {
    /// Starts `EXECUTABLE ARGS...` (an absolute path: no PATH search) and returns its pid.
    /// `environment` adds to this process's own. Descriptors given must be above 2.
    package static func start(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        input: Int32? = nil,
        output: Int32? = nil,
        error: Int32? = nil
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, source, flags) in [(STDIN_FILENO, input, O_RDONLY), (STDOUT_FILENO, output, O_WRONLY), (STDERR_FILENO, error, O_WRONLY)] {
            if let source {
                precondition(source > STDERR_FILENO, "descriptor \(source) would be overwritten before it is copied")
                posix_spawn_file_actions_adddup2(&actions, source, target)
            } else {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", flags, 0)
            }
        }
        let closed = addCloseFrom(&actions, STDERR_FILENO + 1)
        guard closed == 0 else { throw SocketError(call: "posix_spawn_file_actions_addclosefrom_np", code: closed) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var nothing = sigset_t()
        sigemptyset(&nothing)
        posix_spawnattr_setsigmask(&attributes, &nothing)
        var every = sigset_t()
        sigfillset(&every)
        sigdelset(&every, SIGKILL)
        sigdelset(&every, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &every)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let variables = ProcessInfo.processInfo.environment.merging(environment ?? [:]) { $1 }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw SocketError(call: "posix_spawn \(executable)", code: spawned) }
        return pid
    }

    /// A pipe whose two ends close on exec (no other child inherits them) and sit above
    /// standard error (so `start` can copy them there).
    package static func pipe() throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        let made = ends.withUnsafeMutableBufferPointer { Self.pipe2($0.baseAddress!, O_CLOEXEC) }
        guard made == 0 else { throw SocketError(call: "pipe2", code: errno) }
        for index in ends.indices where ends[index] <= STDERR_FILENO {
            let moved = fcntl(ends[index], F_DUPFD_CLOEXEC, STDERR_FILENO + 1)
            close(ends[index])
            ends[index] = moved
        }
        guard ends.allSatisfy({ $0 >= 0 }) else {
            let code = errno
            for end in ends where end >= 0 { close(end) }
            throw SocketError(call: "fcntl(F_DUPFD_CLOEXEC)", code: code)
        }
        return (ends[0], ends[1])
    }

    // glibc has it (2.9) but declares it only for _GNU_SOURCE: looked up by name, once.

    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    private static let pipe2: Pipe2 = glibcFunction("pipe2")
}
