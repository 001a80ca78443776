/// A `HOST:PORT` pair as users write it: `127.0.0.1:7000`, `localhost:6379`,
/// `[::1]:8080`. Parsing checks the shape only; resolving the host is the engine's job.
package struct HostPort: Hashable, Sendable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, with IPv6 hosts in brackets.
    ///
    /// - Throws: `InvalidInputError` naming `what` (for example `--listen`) and the
    ///   accepted forms.
    package init(parsing text: String, what: String) throws {
        let usage = "\(what) takes HOST:PORT (for example 127.0.0.1:7000 or [::1]:7000), got '\(text)'"
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw InvalidInputError(usage) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw InvalidInputError(usage) }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw InvalidInputError(usage) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                throw InvalidInputError("\(usage): put an IPv6 address in brackets")
            }
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }) else {
            throw InvalidInputError(usage)
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw InvalidInputError("\(what): port must be a number from 0 to 65535, got '\(portText)'")
        }
        self.host = String(host)
        self.port = port
    }

    /// The text form, with brackets around IPv6 hosts.
    package var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}
