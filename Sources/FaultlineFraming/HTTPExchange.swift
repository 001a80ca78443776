import FaultlineCore

/// What one HTTP connection's request side tells its response side.
///
/// A response's length depends on the request it answers (a reply to `HEAD` has no
/// body, a 2xx to `CONNECT` turns the connection into a tunnel), and replies come in the
/// order requests reached the server. So requests are queued when they are handed to the
/// upstream, not when they are read: a request a fault drops, answers in the server's
/// place, delays or reorders is queued when (and if) it really goes on. Both channels of
/// a connection run on its one event loop, so no lock is needed.
final class HTTPExchange {
    /// Requests forwarded, in order, whose final response has not been framed yet.
    private var pending: [MessageInfo] = []
    private var head = 0
    /// Why the request direction carries raw bytes now, if it does: responses after the
    /// queued ones can no longer be paired.
    var requestSideRaw: String?
    /// The response direction is raw: nothing needs queueing any more.
    var responseSideRaw = false

    init() {}

    func enqueue(_ request: MessageInfo) {
        guard !self.responseSideRaw else { return }
        self.pending.append(request)
    }

    /// The request the next final response answers.
    var next: MessageInfo? {
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
