/// What one HTTP connection's request framer tells its response framer.
///
/// A response's length depends on the request it answers (a reply to `HEAD` has no
/// body, a 2xx to `CONNECT` turns the connection into a tunnel), and replies come in
/// request order, so the request side queues each request as soon as its head is read.
/// Both framers of a connection run on its one event loop, so no lock is needed.
final class HTTPExchange {
    /// One request awaiting its final response.
    final class Request {
        let method: String
        let target: String
        let idempotencyKey: String?
        /// Set when the whole request has been read.
        var fingerprint: String?

        init(method: String, target: String, idempotencyKey: String?) {
            self.method = method
            self.target = target
            self.idempotencyKey = idempotencyKey
        }
    }

    /// Requests in order whose final response has not been framed yet.
    private(set) var pending: [Request] = []
    private var head = 0
    /// Why the request direction carries raw bytes now, if it does: responses after the
    /// queued ones can no longer be paired.
    var requestSideRaw: String?
    /// The response direction is raw: the request side stops queueing.
    var responseSideRaw = false

    init() {}

    func enqueue(_ request: Request) {
        guard !self.responseSideRaw else { return }
        self.pending.append(request)
    }

    /// The request the next final response answers.
    var next: Request? {
        self.head < self.pending.count ? self.pending[self.head] : nil
    }

    func dequeue() {
        guard self.head < self.pending.count else { return }
        self.head += 1
        if self.head > 64 && self.head * 2 > self.pending.count {
            self.pending.removeFirst(self.head)
            self.head = 0
        }
    }
}

@available(*, unavailable)
extension HTTPExchange: Sendable {}
