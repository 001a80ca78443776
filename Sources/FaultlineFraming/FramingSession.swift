import FaultlineCore
import NIOCore

/// The framing of one proxied connection: its two handlers and what they share.
///
/// HTTP needs the two directions to talk (a response's length depends on its request's
/// method), so a connection's framers are made together. Both channels of a connection
/// live on one event loop, so the shared state needs no lock.
package final class FramingSession {
    package let configuration: FramingConfiguration
    private let recorder: MessageRecorder.Context
    private var httpFramers: (request: HTTPFramer, response: HTTPFramer)?
    /// Requests and the replies that answer them: for the HTTP response framer, the log
    /// (attempts, pairing, what the client never got) and the message stages.
    package let exchange: Exchange

    /// - Parameters:
    ///   - proxy: the proxy's name in events.
    ///   - connection: the connection's ordinal in events.
    ///   - attempts: the proxy's attempt ledger (nil: requests carry no `attempt`).
    ///   - client: the client's host, which scopes fingerprint grouping.
    package init(
        configuration: FramingConfiguration,
        proxy: String,
        connection: UInt64,
        events: any EventSink,
        attempts: AttemptLedger? = nil,
        client: String? = nil
    ) {
        self.configuration = configuration
        self.exchange = Exchange(framing: configuration.kind, attempts: attempts, client: client)
        self.recorder = MessageRecorder.Context(
            proxy: proxy, connection: connection, events: events,
            framing: configuration.kind.name, recordPayloads: configuration.recordPayloads
        )
        if configuration.kind == .http {
            self.httpFramers = HTTPFramer.pair(limits: configuration.limits, exchange: self.exchange)
        }
    }

    /// The framer for bytes travelling in `direction` (`upstream`: read from the client).
    package func makeFramer(for direction: Event.Direction) -> any MessageFramer {
        let role: MessageInfo.Role = direction == .upstream ? .request : .response
        let limits = self.configuration.limits
        switch self.configuration.kind {
        case .raw: preconditionFailure("raw framing installs no framer")
        case .line: return LineFramer(role: role, limits: limits)
        case .length(let prefix): return LengthFramer(prefix: prefix, role: role, limits: limits)
        case .resp: return RESPFramer(role: role, limits: limits)
        case .http:
            let framers = self.httpFramers ?? HTTPFramer.pair(limits: limits, exchange: self.exchange)
            return direction == .upstream ? framers.request : framers.response
        }
    }

    /// The handlers for the channel whose reads travel in `direction`, to sit between
    /// the capture tap and the bridge. Empty for raw framing.
    ///
    /// - Parameter unframe: true (the usual case) gives one `FramingHandler` that hands
    ///   each message on as its bytes and reports it forwarded; false gives one that
    ///   hands on `FramedMessage`s, for a stage that acts on whole messages, after which
    ///   the caller adds `makeUnframer(for:)`.
    package func handlers(for direction: Event.Direction, unframe: Bool = true) -> [any ChannelHandler] {
        guard self.configuration.kind != .raw else { return [] }
        return [self.makeFramingHandler(for: direction, passesUnits: !unframe)]
    }

    /// The framing handler for the channel whose reads travel in `direction`.
    ///
    /// - Parameter passesUnits: hand on `FramedMessage`s (a message stage and an
    ///   unframer follow) rather than bytes; `FramingHandler.passesUnits` can turn it on
    ///   later, when a plan first brings a message rule.
    package func makeFramingHandler(for direction: Event.Direction, passesUnits: Bool) -> FramingHandler {
        precondition(self.configuration.kind != .raw, "raw framing installs no framer")
        return FramingHandler(
            framer: self.makeFramer(for: direction),
            limits: self.configuration.limits,
            recorder: MessageRecorder(context: self.recorder, direction: direction),
            exchange: self.exchange,
            forwarding: { [self] bytes, info, unit in self.forwarded(bytes: bytes, info: info, unit: unit, direction: direction) },
            passesUnits: passesUnits
        )
    }

    /// The handler that hands units to the bridge as `ByteBuffer`s and tells the
    /// session what was really forwarded. It must come after any stage that drops,
    /// delays, reorders or answers messages.
    package func makeUnframer(for direction: Event.Direction) -> UnframingHandler {
        UnframingHandler { [self] message in self.messageForwarded(message, direction: direction) }
    }

    /// Records that `message` went on towards its peer: a request the server got (its
    /// reply pairs with it; for HTTP, its reply's length depends on it), or a reply on
    /// its way to the client. The unframer and the framing handler call it.
    package func messageForwarded(_ message: FramedMessage, direction: Event.Direction) {
        self.forwarded(bytes: message.bytes, info: message.info, unit: message.unit, direction: direction)
    }

    private func forwarded(bytes: ByteBuffer, info: MessageInfo?, unit: UInt64, direction: Event.Direction) {
        switch direction {
        case .upstream:
            self.exchange.requestForwarded(unit: unit, info: info)
        case .downstream:
            self.exchange.replyForwarded(byteCount: bytes.readableBytes, info: info)
        }
    }
}

@available(*, unavailable)
extension FramingSession: Sendable {}
