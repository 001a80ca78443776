import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether two paths name one file, for the options that must not: a capture written
/// over the event log, a report written over the log it judges.
package enum SameFile {
    /// True when `first` and `second` are one file: the same device and inode when both
    /// exist, else the same resolved path (the real path of the folder, symbolic links
    /// and `..` followed, plus the name), so `./run.log` and `logs/../run.log` are one
    /// file before either is made.
    package static func check(_ first: String, _ second: String) -> Bool {
        var a = stat()
        var b = stat()
        if stat(first, &a) == 0, stat(second, &b) == 0 {
            return a.st_dev == b.st_dev && a.st_ino == b.st_ino
        }
        return Self.resolved(first) == Self.resolved(second)
    }

    /// The path with its folder resolved (`realpath`), the name kept as written.
    static func resolved(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        guard let real = realpath(folder, nil) else { return url.standardizedFileURL.path }
        defer { free(real) }
        let base = String(cString: real)
        return (base.hasSuffix("/") ? base : base + "/") + url.lastPathComponent
    }
}
