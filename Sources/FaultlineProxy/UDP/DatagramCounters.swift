/// One direction's datagram accounting, which `conn_close` reports.
///
/// The invariant, once nothing is held or in flight:
/// `datagramsIn + datagramsDuplicated == datagramsOut + datagramsDropped`, and the same
/// for bytes. Dropped covers every cause: loss and rate faults, a full socket, a failed
/// send.
struct DatagramCounters: Equatable {
    var datagramsIn = 0
    var bytesIn = 0
    /// Written to the socket (originals and copies).
    var datagramsOut = 0
    var bytesOut = 0
    var datagramsDropped = 0
    var bytesDropped = 0
    /// Extra copies made by `duplicate`.
    var datagramsDuplicated = 0
    var bytesDuplicated = 0

    /// True when every datagram that came in (and every copy) is accounted for.
    var balances: Bool {
        self.datagramsIn + self.datagramsDuplicated == self.datagramsOut + self.datagramsDropped
            && self.bytesIn + self.bytesDuplicated == self.bytesOut + self.bytesDropped
    }
}
