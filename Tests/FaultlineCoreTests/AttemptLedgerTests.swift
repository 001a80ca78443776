import FaultlineCore
import Testing

/// Attempts of one logical request are numbered across connections, by key, else
/// fingerprint, within a window, with bounded memory.
struct AttemptLedgerTests {
    static let start = Duration.seconds(1)

    static func request(key: String? = nil, fingerprint: String? = nil) -> MessageInfo {
        MessageInfo(role: .request, method: "POST", path: "/orders", idempotencyKey: key, fingerprint: fingerprint)
    }

    @Test func theKeyGroupsAttemptsWhateverTheBytes() {
        let ledger = AttemptLedger()
        let attempts = [
            ledger.attempt(of: Self.request(key: "k", fingerprint: "a"), at: Self.start),
            ledger.attempt(of: Self.request(key: "k", fingerprint: "b"), at: Self.start),
            ledger.attempt(of: Self.request(key: "other", fingerprint: "a"), at: Self.start),
            ledger.attempt(of: Self.request(fingerprint: "a"), at: Self.start),
            ledger.attempt(of: Self.request(fingerprint: "a"), at: Self.start),
            ledger.attempt(of: Self.request(key: "k", fingerprint: "c"), at: Self.start),
        ]
        #expect(attempts == [0, 1, 0, 0, 1, 2])
        #expect(ledger.attempt(of: Self.request(), at: Self.start) == nil, "without key or fingerprint there is no attempt")
    }

    @Test func aRequestNotSeenForTheWindowStartsOver() {
        let ledger = AttemptLedger(window: .seconds(10))
        #expect(ledger.attempt(of: Self.request(key: "k"), at: Self.start) == 0)
        #expect(ledger.attempt(of: Self.request(key: "k"), at: Self.start + .seconds(10)) == 1)
        #expect(ledger.attempt(of: Self.request(key: "k"), at: Self.start + .seconds(21)) == 0)
    }

    @Test func theOldestKeysAreForgottenBeyondTheCapacity() {
        let ledger = AttemptLedger(capacity: 2)
        for key in ["a", "b", "c"] { _ = ledger.attempt(of: Self.request(key: key), at: Self.start) }
        #expect(ledger.attempt(of: Self.request(key: "c"), at: Self.start) == 1)
        #expect(ledger.attempt(of: Self.request(key: "a"), at: Self.start) == 0, "a was forgotten")
    }

    @Test func aFingerprintCountsPerClientHostAndAKeyAcrossHosts() {
        let ledger = AttemptLedger()
        #expect(ledger.attempt(of: Self.request(fingerprint: "a"), client: "127.0.0.1", at: Self.start) == 0)
        #expect(ledger.attempt(of: Self.request(fingerprint: "a"), client: "127.0.0.2", at: Self.start) == 0)
        #expect(ledger.attempt(of: Self.request(fingerprint: "a"), client: "127.0.0.1", at: Self.start) == 1)
        #expect(ledger.attempt(of: Self.request(key: "k"), client: "127.0.0.1", at: Self.start) == 0)
        #expect(ledger.attempt(of: Self.request(key: "k"), client: "127.0.0.2", at: Self.start) == 1)
    }
}
