import FaultlineCore
import NIOCore

/// Writes the `message` and `framing_fallback` events of one direction of a connection.
struct MessageRecorder {
    struct Context {
        var proxy: String
        var connection: UInt64
        var events: any EventSink
        var framing: String
        var recordPayloads: Bool
    }

    let context: Context
    let direction: Event.Direction

    /// `firstMono`: when the message's first byte arrived (`now`: its last).
    func message(bytes: ByteBuffer, info: MessageInfo?, unit: UInt64, firstMono: UInt64, at now: NIODeadline) {
        guard self.context.events.isRecording else { return }  // no log: nothing to build
        // What takes time to work out is worked out first: the event may be built under
        // the sink's lock.
        let retryAfter = info?.role == .response ? info?.header("Retry-After") : nil
        let payload = self.context.recordPayloads ? Base64.encode(bytes) : nil
        self.context.events.record(.message) { event in
            event.proxy = self.context.proxy
            event.conn = self.context.connection
            event.direction = self.direction
            event.unit = unit
            event.bytes = bytes.readableBytes
            event.mono = now.uptimeNanoseconds
            event.firstMono = firstMono
            if let info {
                event.method = info.method
                event.path = info.path
                event.status = info.status
                event.idempotencyKey = info.idempotencyKey
                event.command = info.command
                event.fingerprint = info.fingerprint
                event.attempt = info.attempt
                if info.role == .response {
                    event.requestUnit = info.requestUnit
                    event.requestMono = info.requestMono
                    event.retryAfter = retryAfter
                }
            }
            event.payload = payload
        }
    }

    /// `unit` and `bytes` describe the raw unit forwarded at once (bytes the framer
    /// held); both are nil when it held none.
    func fallback(reason: String, unit: UInt64?, bytes: Int?, at now: NIODeadline) {
        guard self.context.events.isRecording else { return }
        var event = Event(.framingFallback)
        event.proxy = self.context.proxy
        event.conn = self.context.connection
        event.direction = self.direction
        event.unit = unit
        event.bytes = bytes
        event.framing = self.context.framing
        event.reason = reason
        event.mono = now.uptimeNanoseconds
        self.context.events.record(event)
    }
}
