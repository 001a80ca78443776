import Yams

/// `respond`: answer the request in the server's place; the request is never
/// forwarded. For HTTP, a status with headers and a body (`Content-Length` is added);
/// for RESP, an error line; for line and length framing, `body` as one message.
///
///     fault: {kind: respond, status: 503, headers: {Retry-After: "2"}, body: "try later"}
///     fault: {kind: respond, error: "ERR injected by faultline"}
package struct RespondFault: MessageFault {
    package static let kind = "respond"
    package static let summary = "answer the request in the server's place (an HTTP status, a RESP error) without forwarding it"
    package static let parameters = ["status", "headers", "body", "error"]
    package static var layer: FaultLayer { .message }
    package static var scopes: [DecisionScope] { [.connection, .message] }
    /// Headers faultline writes itself, from the body.
    static let computedHeaders = ["content-length", "transfer-encoding"]

    package var reply: InjectedReply

    package init(_ reply: InjectedReply) {
        self.reply = reply
    }

    package init?(parameters: ReaderFields, reader: ProfileReader) {
        let status = reader.optional(parameters, "status") { reader.integer($0, what: "status (an HTTP final status)", in: 200...599) }
        let body = reader.optional(parameters, "body") { reader.string($0, what: "body") }
        let error = reader.optional(parameters, "error") { node -> String? in
            guard let text = reader.nonEmptyString(node, what: "error") else { return nil }
            guard !text.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                reader.fail(node, "error must be one line (it is sent as '-TEXT\\r\\n'), got a line break")
                return nil
            }
            return text
        }
        let headers = reader.optional(parameters, "headers") { Self.headers($0, reader: reader) }
        guard parameters["status"] == nil || status != nil, parameters["body"] == nil || body != nil,
            parameters["error"] == nil || error != nil, parameters["headers"] == nil || headers != nil
        else { return nil }
        guard status != nil || error != nil || body != nil else {
            reader.fail(parameters.node, "a respond fault needs 'status' (HTTP), 'error' (RESP) or 'body' (line and length framing)")
            return nil
        }
        if headers != nil, status == nil, let node = parameters.key("headers") {
            reader.fail(node, "headers go with 'status': they are HTTP response headers")
            return nil
        }
        self.init(InjectedReply(status: status, headers: headers ?? [], body: body, error: error))
    }

    /// A mapping of header names to values, in the order written.
    static func headers(_ node: Node, reader: ProfileReader) -> [MessageInfo.Header]? {
        guard case .mapping(let mapping) = node else {
            reader.fail(node, "headers must be a mapping of names to values, e.g. {Retry-After: \"2\"}; got \(ProfileReader.describe(node))")
            return nil
        }
        var headers: [MessageInfo.Header] = []
        var ok = true
        for (key, value) in mapping {
            guard let name = key.scalar?.string, !name.isEmpty, name.unicodeScalars.allSatisfy(Self.isTokenCharacter) else {
                reader.fail(key, "a header name must be an HTTP token (letters, digits, - and the like)")
                ok = false
                continue
            }
            if Self.computedHeaders.contains(name.lowercased()) {
                reader.fail(key, "\(name) is written by faultline from the body; leave it out")
                ok = false
                continue
            }
            guard case .scalar(let scalar) = value, !scalar.string.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                reader.fail(value, "the value of header \(name) must be one line of text")
                ok = false
                continue
            }
            headers.append(MessageInfo.Header(name: name, value: scalar.string))
        }
        return ok ? headers : nil
    }

    static func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.isASCII, scalar.value > 32, scalar.value < 127 else { return false }
        return !"()<>@,;:\\\"/[]?={}".unicodeScalars.contains(scalar)
    }

    package var actsOnMessages: Bool { true }
    package var requestsOnly: Bool { true }

    package var params: [String: String] {
        var params: [String: String] = [:]
        if let status = self.reply.status { params["status"] = String(status) }
        if let error = self.reply.error { params["error"] = error }
        if let body = self.reply.body { params["body_bytes"] = String(body.utf8.count) }
        for header in self.reply.headers { params["header.\(header.name)"] = header.value }
        return params
    }

    package var explanation: String {
        var answers: [String] = []
        if let status = self.reply.status {
            let headers = self.reply.headers.map { "\($0.name): \($0.value)" }
            answers.append("HTTP \(status)" + (headers.isEmpty ? "" : " with \(headers.joined(separator: ", "))"))
        }
        if let error = self.reply.error { answers.append("the RESP error '-\(error)'") }
        if self.reply.status == nil, let body = self.reply.body { answers.append("the message '\(body)'") }
        return "answers in the server's place with \(answers.joined(separator: " or ")); the request never reaches the server"
    }

    package func effect(random: inout DecisionRandom) -> FaultEffect {
        .message(.respond(self.reply))
    }
}
