import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A moment on the wall clock, in nanoseconds since 1970-01-01T00:00:00Z.
///
/// Records carry wall-clock time so that people can line them up with other systems'
/// logs; ordering within a run uses the event loop's monotonic `mono` instead.
package struct WallTime: Hashable, Comparable, Sendable {
    package var nanosecondsSince1970: Int64

    package init(nanosecondsSince1970: Int64) {
        self.nanosecondsSince1970 = nanosecondsSince1970
    }

    package static func < (lhs: WallTime, rhs: WallTime) -> Bool {
        lhs.nanosecondsSince1970 < rhs.nanosecondsSince1970
    }

    /// Whole seconds and the microseconds past them, as pcap timestamps want.
    package var secondsAndMicroseconds: (seconds: Int64, microseconds: Int32) {
        let seconds = self.nanosecondsSince1970.floorDivided(by: 1_000_000_000)
        let rest = self.nanosecondsSince1970 - seconds * 1_000_000_000
        return (seconds, Int32(rest / 1000))
    }

    /// Whole milliseconds since 1970, rounded down (what `rfc3339` shows).
    package var millisecondsSince1970: Int64 {
        self.nanosecondsSince1970.floorDivided(by: 1_000_000)
    }

    /// RFC 3339 in UTC with milliseconds: `2026-11-23T09:36:36.123Z`.
    ///
    /// Written digit by digit into the string's own storage: the log's writer formats
    /// a time for every millisecond that has events, and interpolating padded parts
    /// cost about twenty times as much (bench/RESULTS.md).
    package var rfc3339: String {
        let millis = self.millisecondsSince1970
        var seconds = time_t(millis.floorDivided(by: 1000))
        let fraction = Int(millis - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // Nanoseconds in an Int64 reach from 1677 to 2262: a year is always four digits.
        let year = Int(parts.tm_year) + 1900
        return String(unsafeUninitializedCapacity: 24) { text in
            func put(_ value: Int, width: Int, at offset: Int) {
                var rest = value
                for index in stride(from: offset + width - 1, through: offset, by: -1) {
                    text[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
            }
            put(year, width: 4, at: 0)
            text[4] = UInt8(ascii: "-")
            put(Int(parts.tm_mon) + 1, width: 2, at: 5)
            text[7] = UInt8(ascii: "-")
            put(Int(parts.tm_mday), width: 2, at: 8)
            text[10] = UInt8(ascii: "T")
            put(Int(parts.tm_hour), width: 2, at: 11)
            text[13] = UInt8(ascii: ":")
            put(Int(parts.tm_min), width: 2, at: 14)
            text[16] = UInt8(ascii: ":")
            put(Int(parts.tm_sec), width: 2, at: 17)
            text[19] = UInt8(ascii: ".")
            put(fraction, width: 3, at: 20)
            text[23] = UInt8(ascii: "Z")
            return 24
        }
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor < 0) ? quotient - 1 : quotient
    }
}

/// Where records get the wall-clock time: injected, so tests can pin it.
package protocol WallClock: Sendable {
    func now() -> WallTime
}

/// The system's real-time clock (`CLOCK_REALTIME`).
package struct SystemWallClock: WallClock {
    package init() {}

    package func now() -> WallTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return WallTime(nanosecondsSince1970: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }
}

/// A clock that starts at a fixed moment and advances by `step` on every reading: for
/// tests that compare whole log files.
package final class SteppingWallClock: WallClock {
    private let state: Mutex<WallTime>
    private let step: Int64

    package init(start: WallTime, stepNanoseconds: Int64 = 1_000_000) {
        self.state = Mutex(start)
        self.step = stepNanoseconds
    }

    package func now() -> WallTime {
        self.state.withLock { time in
            defer { time.nanosecondsSince1970 += self.step }
            return time
        }
    }
}
