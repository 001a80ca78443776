import Foundation

/// Whether this test run is sanitized (`make sanitize` sets `FAULTLINE_SANITIZER` to
/// `thread` or `address`). A sanitized process takes several times the memory and the
/// time (shadow memory, quarantine, instrumented code), so bounds on memory and on speed
/// only hold for the normal build; tests keep every other check.
package enum Sanitized {
    package static let sanitizer: String? = ProcessInfo.processInfo.environment["FAULTLINE_SANITIZER"]

    /// True in a normal (unsanitized) run, where memory and time bounds apply.
    package static var boundsApply: Bool { sanitizer == nil }
}
