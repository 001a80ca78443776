import ArgumentParser
import FaultlineCore
import FaultlineRecords
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Standard output for lines that scripts read (`listening on HOST:PORT`): written and
/// flushed at once, so a pipe sees them before the proxy starts its long run.
///
/// A write that fails is remembered, and `check()` turns it into the command's failure
/// when it ends: a report or summary that never reached its reader is not a success.
enum Output {
    /// The errno of the first write to standard output that failed.
    private static let failure = Mutex<Int32?>(nil)

    static func line(_ text: String) {
        print(text)
        Self.flush()
    }

    /// Writes `data` to standard output as it is.
    static func write(_ data: Data) {
        Self.flush()
        var rest = data[...]
        while !rest.isEmpty {
            let written = rest.withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                Self.remember(errno)
                return
            }
            rest = rest.dropFirst(written)
        }
    }

    private static func flush() {
        if fflush(nil) != 0 { Self.remember(errno) }
    }

    private static func remember(_ number: Int32) {
        Self.failure.withLock { if $0 == nil { $0 = number } }
    }

    /// Flushes standard output and throws when anything written to it was lost: a
    /// runtime failure (exit 3) naming the reason (`No space left on device`). A reader
    /// that went away (EPIPE: `faultline log export LOG | head`) ends the command
    /// quietly with 141, the status a shell gives a writer SIGPIPE ended.
    static func check() throws {
        Self.flush()
        guard let number = Self.failure.withLock({ $0 }) else { return }
        if number == EPIPE { throw ExitCode(128 + SIGPIPE) }
        throw RuntimeFailure("standard output: cannot write: \(String(cString: strerror(number)))")
    }
}

/// A file an option (`-o`) names, written whole or failing with the reason.
enum OutputFile {
    /// Writes `data` to `path`, replacing it.
    ///
    /// - Throws: `InvalidInputError` (exit 2) when the file cannot be made (the README's
    ///   "an output file that cannot be created"); `RuntimeFailure` (exit 3) when it was
    ///   made but not written in full (a full disk, an I/O error), with the reason.
    static func write(_ data: Data, to path: String, option: String = "-o") throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw InvalidInputError("\(option) \(path): cannot create the file: \(String(cString: strerror(errno)))")
        }
        var rest = data[...]
        var failure: Int32?
        while !rest.isEmpty {
            let written = rest.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                failure = errno
                break
            }
            rest = rest.dropFirst(written)
        }
        if close(descriptor) != 0, failure == nil, errno != EINTR { failure = errno }
        if let failure {
            throw RuntimeFailure(
                "\(option) \(path): cannot write the file: \(String(cString: strerror(failure))) (\(data.count - rest.count) of \(data.count) bytes written)"
            )
        }
    }

    /// Refuses (exit 2) an output that is one of the command's input files: writing
    /// it would destroy what is being read.
    static func refuseInput(_ output: String?, inputs: [String], option: String = "-o", what: String) throws {
        guard let output else { return }
        for input in inputs where SameFile.check(output, input) {
            throw InvalidInputError("\(option) \(output) is the \(what) \(input) this reads: it would be written over; write elsewhere")
        }
    }
}
