import FaultlineCore
import FaultlineReplay
import Testing

struct ReplayTargetTests {
    @Test func aTargetIsTheAddressGiven() {
        let target = ReplayTarget(address: HostPort(host: "127.0.0.1", port: 8080))
        #expect(target.address.port == 8080)
    }
}
