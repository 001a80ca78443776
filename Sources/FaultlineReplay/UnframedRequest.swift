/// A recorded connection whose requests replay cannot resend: the recording proxy's
/// framer gave up on it (a `framing_fallback` event in the request direction), so from
/// there on its bytes went on raw and no `message` event holds them.
///
/// A 10 MB upload over the default 8 MiB `--max-message-size` is the common case. The
/// report names each one with the reason and the option that would have kept it, so a
/// request never drops out of the replay unsaid.
package struct UnframedRequest: Sendable, Equatable {
    package var proxy: String?
    package var connection: UInt64?
    /// The framer's words: `a body of 10000000 bytes exceeds the 8388608-byte message limit`.
    package var reason: String
    /// `FILE:LINE` of the `framing_fallback` event.
    package var source: String

    package init(proxy: String?, connection: UInt64?, reason: String, source: String) {
        self.proxy = proxy
        self.connection = connection
        self.reason = reason
        self.source = source
    }

    /// The name of its row in the report's operations: the operation is unknown.
    package var name: String {
        "unframed request on connection \(self.connection.map(String.init) ?? "?")"
    }

    /// What would have kept the request, from the reason's words (docs/framing.md,
    /// "Limits and fallback").
    package var remedy: String {
        if self.reason.contains("message limit") {
            return "record it again through a proxy with a larger --max-message-size (default 8MiB)"
        }
        if self.reason.contains("header limit") {
            return "record it again through a proxy with a larger --max-header-size (default 64KiB)"
        }
        if self.reason.contains("stayed incomplete") {
            return "record it again through a proxy with a longer --max-hold (default 2s; 0s: none)"
        }
        if self.reason.contains("input ended") {
            return "the client closed inside the request, so there is no whole request to resend"
        }
        return "its bytes did not parse with the proxy's --framing, so there is no request to resend"
    }

    /// One line for the report: where, why, and what to do.
    package var explanation: String {
        "not replayed: the recording proxy could not frame this and any later request on connection "
            + "\(self.connection.map(String.init) ?? "?") (\(self.reason)); \(self.remedy)"
    }
}
