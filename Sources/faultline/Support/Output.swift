#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Standard output for lines that scripts read (`listening on HOST:PORT`): written and
/// flushed at once, so a pipe sees them before the proxy starts its long run.
enum Output {
    static func line(_ text: String) {
        print(text)
        fflush(nil)
    }
}
