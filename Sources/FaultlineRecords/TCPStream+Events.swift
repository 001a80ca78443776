import FaultlineCore
import Foundation

extension TCPStream {
    /// This stream as event-log events, so a checker can take a capture where it takes a
    /// log: `conn_open`, one `message` per direction that carried bytes (the raw
    /// framing: the whole direction is one message), and `conn_close` with the byte
    /// counts and how it ended. Framing the bytes into requests and replies is the
    /// framers' job (FaultlineFraming), applied to `clientToServer`/`serverToClient`.
    ///
    /// Times come from the capture (`time` of the first packet); there is no `mono`.
    package func events(proxy: String, connection: UInt64, recordPayloads: Bool = false) -> [Event] {
        let time = WallTime(
            nanosecondsSince1970: self.firstSeconds * 1_000_000_000 + Int64(self.firstMicroseconds) * 1000
        ).rfc3339
        func base(_ type: Event.Kind) -> Event {
            var event = Event(type)
            event.proxy = proxy
            event.conn = connection
            event.time = time
            return event
        }
        var open = base(.connectionOpen)
        open.client = self.client.description
        open.upstream = self.server.description
        var events = [open]
        for (direction, bytes) in [(Event.Direction.upstream, self.clientToServer), (.downstream, self.serverToClient)] where !bytes.isEmpty {
            var message = base(.message)
            message.direction = direction
            message.unit = 0
            message.bytes = bytes.count
            if recordPayloads { message.payload = Data(bytes).base64EncodedString() }
            events.append(message)
        }
        var close = base(.connectionClose)
        close.bytesFromClient = self.clientToServer.count
        close.bytesToUpstream = self.clientToServer.count
        close.bytesFromUpstream = self.serverToClient.count
        close.bytesToClient = self.serverToClient.count
        close.reason = self.reset ? "reset" : (self.clientFIN || self.serverFIN ? "closed" : "capture_ended")
        events.append(close)
        return events
    }
}
