/// A libpcap failure, with libpcap's own words (`pcap_geterr`, `errbuf`) in `message`.
///
/// `kind` lets callers map it to an exit status: a refused capture is a runtime failure,
/// a bad filter or a missing interface is bad input.
package struct PcapError: Error, CustomStringConvertible, Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        /// Capturing needs privileges this process lacks (root or CAP_NET_RAW).
        case permissionDenied
        /// No interface has that name.
        case noSuchDevice
        /// The BPF filter expression does not compile.
        case badFilter
        /// A capture file cannot be opened, read or written.
        case file
        /// Anything else libpcap reports.
        case other
    }

    package var kind: Kind
    package var message: String

    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { self.message }

    /// "cannot write capture file PATH: REASON", without libpcap's own copy of the path.
    static func cannotWrite(_ path: String, _ reason: String) -> PcapError {
        let trimmed = reason.hasPrefix(path + ": ") ? String(reason.dropFirst(path.count + 2)) : reason
        return PcapError(.file, "cannot write capture file \(path): \(trimmed)")
    }

    /// The text in a libpcap `errbuf` (NUL-terminated).
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
