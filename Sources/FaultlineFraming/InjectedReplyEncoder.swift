import FaultlineCore
import NIOCore

/// Writes the bytes of a reply faultline sends in the server's place (`respond`), in
/// the connection's protocol:
///
///     http    HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 9\r\n\r\ntry later
///     resp    -ERR injected by faultline\r\n
///     line    try later\n
///     length  00 00 00 09 try later
///
/// An HTTP reply to `HEAD` carries its `Content-Length` but no body, as a server's would;
/// a 204 or 304 carries neither.
package enum InjectedReplyEncoder {
    /// The reply's bytes, or nil when `reply` says nothing this framing can carry
    /// (`InjectedReply.problem(for:)` explains why; the CLI refuses such a profile).
    package static func encode(_ reply: InjectedReply, framing: FramingConfiguration.Kind, request: MessageInfo?) -> ByteBuffer? {
        switch framing {
        case .http:
            guard let status = reply.status else { return nil }
            let body = reply.body ?? ""
            var head = "HTTP/1.1 \(status) \(Self.reason(for: status))\r\n"
            for header in reply.headers {
                head += "\(header.name): \(header.value)\r\n"
            }
            // 204 and 304 never carry a body (RFC 9110 §15.3.5, §15.4.5).
            if status == 204 || status == 304 { return ByteBuffer(string: head + "\r\n") }
            head += "Content-Length: \(body.utf8.count)\r\n\r\n"
            return ByteBuffer(string: request?.method == "HEAD" ? head : head + body)
        case .resp:
            guard let error = reply.error else { return nil }
            return ByteBuffer(string: "-\(error)\r\n")
        case .line:
            guard let body = reply.body else { return nil }
            return ByteBuffer(string: body.hasSuffix("\n") ? body : body + "\n")
        case .length(let prefix):
            guard let body = reply.body else { return nil }
            let length = body.utf8.count + (prefix.includesPrefix ? prefix.width : 0)
            guard prefix.width == 8 || length < 1 << (prefix.width * 8) else { return nil }
            var buffer = ByteBuffer()
            var digits = [UInt8](repeating: 0, count: prefix.width)
            for index in 0..<prefix.width {
                digits[index] = UInt8(truncatingIfNeeded: UInt64(length) >> (UInt64(index) * 8))
            }
            buffer.writeBytes(prefix.endianness == .big ? digits.reversed() : digits)
            buffer.writeString(body)
            return buffer
        case .raw:
            return nil
        }
    }

    /// The reason phrase a server would send (RFC 9110 §15).
    static func reason(for status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 422: "Unprocessable Content"
        case 425: "Too Early"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Injected"
        }
    }
}
