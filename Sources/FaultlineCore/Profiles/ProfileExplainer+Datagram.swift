/// What `faultline profile explain` says about datagram faults.
extension ProfileExplainer {
    /// Advice per kind for a `transport: udp` profile; kinds without one here fall back
    /// to the TCP advice.
    static let datagramHints: [String: String] = [
        "loss": "Loss: every request may go unanswered, and the request may have arrived with only the reply lost. Retransmit after a timeout that grows (exponential backoff with jitter), cap the attempts and the total time, and make retransmissions harmless (idempotent requests, or a request id the server deduplicates).",
        "duplicate": "Duplicate: the same datagram can arrive twice; match replies to requests by id and drop the second copy, and make the server's handling of a repeated request harmless.",
        "reorder": "Reorder: datagrams can arrive in another order than sent; number them, match replies by id rather than by arrival order, and wait a short reorder window before treating a gap as loss.",
        "delay": "Delay: with jitter, datagrams overtake each other; set timeouts from the latency objective, not the average, and do not take a late reply for the reply to a later request.",
        "corrupt": "Corrupt: a datagram can arrive damaged with a valid UDP checksum; check integrity at the application layer (a checksum or MAC) and treat a bad datagram as lost.",
        "rate": "Rate: past the limit datagrams are queued, then dropped; pace sending, back off when replies stop, and never answer loss by sending faster.",
    ]

    /// Datagram ordinals in words: "among the first 3, every 2nd datagram".
    static func datagramOrdinals(_ ordinals: ConnectionOrdinals) -> String {
        var which: [String] = []
        if ordinals.skip > 0 { which.append("after the first \(ordinals.skip)") }
        if let first = ordinals.first { which.append("among the first \(first)") }
        if let every = ordinals.every { which.append("every \(Self.ordinal(Int(every))) datagram") }
        return which.joined(separator: ", ") + " of each session and direction"
    }
}
