import FaultlineChecker
import FaultlineTestSupport
import Testing

@testable import FaultlineReplay

/// A `Location` and the same id in a JSON body name one resource (trial finding F1).
@Suite(.timeLimit(.minutes(1)))
struct ResourceNameTests {
    static let post = "POST /orders"

    @Test func aLocationMatchesABodyIdByItsLastPathSegment() throws {
        let first = try #require(ResourceName(location: "/orders/b765?v=2#top", id: "b765"))
        let replay = try #require(ResourceName(location: nil, id: "b765"))
        let other = try #require(ResourceName(location: nil, id: "c001"))
        #expect(first.isSame(as: replay) && replay.isSame(as: first))
        #expect(!first.isSame(as: other))
        #expect(try #require(ResourceName(location: "https://api.test/orders/b765/", id: nil)).isSame(as: replay))
        #expect(ResourceName.distinct([first, replay, replay]).count == 1)
        #expect(ResourceName.distinct([first, replay, other]).count == 2)
        #expect(first.description == "b765")
        #expect(ResourceName(location: "/", id: nil) == nil)
    }

    /// Two Locations compare as paths; two ids as ids.
    @Test func likeComparesWithLike() throws {
        let a = try #require(ResourceName(location: "/orders/1", id: "evt_1"))
        let b = try #require(ResourceName(location: "/orders/1", id: "evt_2"))
        #expect(a.isSame(as: b))
        #expect(!(try #require(ResourceName(location: "/orders/1", id: nil))).isSame(as: try #require(ResourceName(location: "/orders/2", id: nil))))
    }

    /// The service answers its first request with `Location: /orders/X` and
    /// `{"id":"X"}`, its repeats with the saved status and body only: one resource,
    /// deduplicated by key, no finding (the trial's report said CRIT SR-01, SR-04, SR-05).
    @Test func aKeyedCreateWhoseRepliesDropLocationIsDeduplicated() async throws {
        let service = try await OrdersService.start()
        defer { Task { await service.stop() } }
        let report = try await OrdersReplay.check(service, style: OrdersService.Style(), requests: [OrdersReplay.order(key: "k-1")])
        #expect(report.findings.isEmpty, "\(report.findings.map(\.message))")
        #expect(OrdersReplay.verdict(report, Self.post)?.classification == .deduplicatedByKey, "\(report.operations ?? [])")
        let sr01 = try #require(report.rules.first { $0.id == "SR-01" })
        #expect(sr01.status == .passed && sr01.evidence.contains("same resource"), "\(sr01.evidence)")
    }

    /// Semantic mode compares resources the same way: SR-02 passes with a probe that
    /// proves one effect.
    @Test func semanticModeTakesALocationAndTheBodyIdForOneResource() async throws {
        let service = try await OrdersService.start()
        defer { Task { await service.stop() } }
        let report = try await OrdersReplay.check(
            service, style: OrdersService.Style(), requests: [OrdersReplay.order(key: "k-1")], probes: ["GET /orders"]
        ) { $0.mode = .semantic }
        #expect(report.findings.isEmpty, "\(report.findings.map(\.message))")
        let sr02 = try #require(report.rules.first { $0.id == "SR-02" })
        #expect(sr02.status == .passed, "\(sr02.evidence)")
    }

    /// Without a key every request creates an order: still two different resources.
    @Test func anUnkeyedCreateStillNamesNewResources() async throws {
        let service = try await OrdersService.start()
        defer { Task { await service.stop() } }
        let report = try await OrdersReplay.check(service, style: OrdersService.Style(), requests: [OrdersReplay.order(key: nil)])
        #expect(OrdersReplay.verdict(report, Self.post)?.classification == .atLeastOnce, "\(report.operations ?? [])")
        let sr01 = try #require(report.rules.first { $0.id == "SR-01" })
        #expect(sr01.evidence.contains("3 different resources"), "\(sr01.evidence)")
    }
}
